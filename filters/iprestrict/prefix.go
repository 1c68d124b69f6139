package iprestrict

import (
	"errors"
	"net/netip"
	"strings"
)

// ParsePrefix parses one entry of an allow or deny list the way Kong's
// ip-restriction accepts it: a single IPv4 or IPv6 address ("203.0.113.7",
// "2001:db8::1") or a CIDR ("10.0.0.0/8", "2001:db8::/32").
//
// The result is canonical: host bits are masked off ("10.1.2.3/8" becomes
// 10.0.0.0/8, as Kong does), a single address becomes a /32 or /128, and an
// IPv4-mapped IPv6 entry ("::ffff:10.0.0.0/104") becomes the IPv4 prefix it
// stands for (10.0.0.0/8), so that it matches IPv4 clients. IPv6 zones
// ("fe80::1%eth0"), spaces and empty strings are errors.
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
	return Canonical(p), nil
}

// Canonical masks p and turns an IPv4-mapped IPv6 prefix of length 96 or
// more into the IPv4 prefix it stands for. Shorter IPv6 prefixes (such as
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
