// Package clientip resolves the address of the client behind trusted
// proxies, the way nginx's realip module does with real_ip_recursive on.
//
// The client is the TCP peer, unless the peer is a trusted proxy. Then the
// X-Forwarded-For header (all of its lines, in order) is read from right to
// left, skipping trusted addresses: the first untrusted address is the
// client. A spoofed X-Forwarded-For from an untrusted peer is ignored
// entirely. If an entry cannot be parsed before an untrusted address was
// found, the last trusted hop is taken as the client (a proxy that forwarded
// garbage is the furthest point we can vouch for). If every address is
// trusted, the left-most one is the client.
//
// Addresses are unmapped (::ffff:10.0.0.1 is 10.0.0.1). A Resolver is
// immutable and safe for concurrent use; Resolve allocates nothing.
package clientip

import (
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/gaissmai/bart"
)

// Resolver holds the trusted proxy networks.
type Resolver struct {
	trusted *bart.Lite
	empty   bool
	header  string
}

// New builds a Resolver from CIDRs or addresses ("10.0.0.0/8", "::1").
// header is the header to read (default X-Forwarded-For).
func New(cidrs []string, header string) (*Resolver, error) {
	r := &Resolver{trusted: new(bart.Lite), empty: len(cidrs) == 0, header: header}
	if r.header == "" {
		r.header = "X-Forwarded-For"
	}
	for _, s := range cidrs {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		r.trusted.Insert(p)
	}
	return r, nil
}

// Header returns the name of the header the resolver reads.
func (r *Resolver) Header() string { return r.header }

// ParsePrefix parses one entry of an address list: "a.b.c.d/n", "v6/n" or
// a single address (as /32 or /128). It is the one parser for every list in
// edgeguard (trusted_proxies, admin allow, ip-restriction, the blocklist
// and its admin API, abuse exempt), so they all follow the rules of
// Normalize. Errors name s.
func ParsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q: zones are not allowed", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p, err = Normalize(p); err != nil {
		return netip.Prefix{}, fmt.Errorf("%q: %w", s, err)
	}
	return p, nil
}

// Normalize applies the rules shared by all address lists to a parsed
// prefix and returns its canonical form:
//
//   - An IPv4-mapped prefix ::ffff:a.b.c.d/n with n >= 96 is the IPv4
//     prefix a.b.c.d/(n-96) (a single mapped address is the IPv4 address),
//     so that it matches IPv4 clients, whose addresses are unmapped. With
//     n < 96 it is an error asking for the IPv4 form: taken as written it
//     would be an IPv6 prefix such as ::/8, which no IPv4 client is in.
//   - Host bits must be zero: "10.1.2.3/8" is an error naming both
//     readings (10.0.0.0/8, 10.1.2.3/32). Kong and nginx mask such an
//     entry silently, which turns a typo into a wider allow, trust or block
//     than intended.
//
// The error does not repeat p; callers add the value they parsed.
func Normalize(p netip.Prefix) (netip.Prefix, error) {
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			hint := "a.b.c.d/n"
			if p.Bits() <= 32 {
				hint = netip.PrefixFrom(a.Unmap(), p.Bits()).String()
			}
			return netip.Prefix{}, fmt.Errorf("an IPv4-mapped prefix needs a length of at least /96 (::ffff:a.b.c.d/n is a.b.c.d/(n-96)): write the IPv4 form, such as %s", hint)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("host bits are set: write %s for the network or %s for the single address", m, netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
	}
	return p, nil
}

// Trusted reports whether a is a trusted proxy.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r.empty {
		return false
	}
	return r.trusted.Lookup(a.Unmap())
}

// Resolve returns the client address given the TCP peer and the values of
// the forwarding header, in the order the lines were received.
func (r *Resolver) Resolve(peer netip.Addr, xff [][]byte) netip.Addr {
	peer = peer.Unmap()
	if r.empty || !r.trusted.Lookup(peer) {
		return peer
	}
	last := peer
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		end := len(v)
		for end > 0 {
			start := end - 1
			for start >= 0 && v[start] != ',' {
				start--
			}
			item := trim(v[start+1 : end])
			end = start
			if len(item) == 0 {
				continue
			}
			a, ok := ParseAddr(item)
			if !ok {
				return last
			}
			if !r.trusted.Lookup(a) {
				return a
			}
			last = a
		}
	}
	return last
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// ParseAddr parses one X-Forwarded-For entry: an address, "v4:port",
// "[v6]" or "[v6]:port". It returns the unmapped address. It allocates
// nothing for addresses without a zone.
func ParseAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 64 {
		return netip.Addr{}, false
	}
	if b[0] == '[' {
		j := -1
		for i := range b {
			if b[i] == ']' {
				j = i
				break
			}
		}
		if j < 0 || (j+1 < len(b) && (b[j+1] != ':' || !digits(b[j+2:]))) {
			return netip.Addr{}, false
		}
		b = b[1:j]
	} else {
		colons, last := 0, -1
		for i, c := range b {
			if c == ':' {
				colons++
				last = i
			}
		}
		if colons == 1 { // v4:port
			if !digits(b[last+1:]) {
				return netip.Addr{}, false
			}
			b = b[:last]
		}
	}
	// netip.ParseAddr keeps no reference to its argument (zones are
	// cloned), so a string view of b avoids a copy per request.
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func digits(b []byte) bool {
	if len(b) == 0 || len(b) > 5 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
