package iprestrict

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/edgeguard/edgeguard/proxy/clientip"
)

// ParsePrefix parses one entry of an allow or deny list the way Kong's
// ip-restriction accepts it: a single IPv4 or IPv6 address ("203.0.113.7",
// "2001:db8::1") or a CIDR ("10.0.0.0/8", "2001:db8::/32").
//
// The result is canonical: a single address becomes a /32 or /128, and the
// rules shared by every address list in edgeguard apply (clientip.Normalize):
// an IPv4-mapped entry ("::ffff:10.0.0.0/104") becomes the IPv4 prefix it
// stands for (10.0.0.0/8), so that it matches IPv4 clients, and one shorter
// than /96 is an error; set host bits ("10.1.2.3/8") are an error naming
// both readings, where Kong masks them. IPv6 zones ("fe80::1%eth0"),
// spaces and empty strings are errors.
//
// The error text does not repeat s; callers add it with the list index.
func ParsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("empty address")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return netip.Prefix{}, errors.New("must not contain spaces")
	}
	var p netip.Prefix
	if strings.IndexByte(s, '/') >= 0 {
		if strings.IndexByte(s, '%') >= 0 {
			return netip.Prefix{}, errors.New("IPv6 zones are not allowed")
		}
		var err error
		p, err = netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, trimNetipError(err)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, trimNetipError(err)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("IPv6 zones are not allowed")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return clientip.Normalize(p)
}

// Canonical masks p and turns an IPv4-mapped IPv6 prefix of length 96 or
// more into the IPv4 prefix it stands for. It never fails, for prefixes
// that are already parsed (the blocklist's file and cluster messages);
// entries written by people go through ParsePrefix. Shorter IPv6 prefixes (such as
// ::/0) stay IPv6 and therefore do not match IPv4 clients; the address
// family of a client is decided by Unmap, see Filter.Access.
func Canonical(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p
}

// trimNetipError drops netip's `netip.ParsePrefix("..."): ` prefix, since
// the caller reports the offending value itself.
func trimNetipError(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, `"): `); i >= 0 && strings.HasPrefix(msg, "netip.") {
		msg = msg[i+4:]
	} else if strings.HasPrefix(msg, "ParseAddr(") {
		if i := strings.Index(msg, `): `); i >= 0 {
			msg = msg[i+3:]
		}
	}
	return errors.New(msg)
}
