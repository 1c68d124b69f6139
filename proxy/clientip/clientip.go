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

// ParsePrefix parses "a.b.c.d/n", "v6/n" or a single address (as /32 or
// /128). IPv4-mapped IPv6 prefixes are unmapped. Host bits must be zero.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: zones are not allowed", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
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
