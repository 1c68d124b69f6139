package iprestrict

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzParsePrefix checks that ParsePrefix never panics, that what it accepts
// is canonical and round-trips, and that it agrees with net/netip on plain
// addresses.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{
		"10.0.0.0/8", "192.168.1.100", "2001:db8::/32", "::ffff:10.0.0.0/104",
		"::ffff:1.2.3.4", "10.1.2.3/8", "fe80::1%eth0", "0.0.0.0/0", "::/0",
		"1.2.3.4/33", "", " 1.2.3.4", "010.0.0.1", "::ffff:0:0/96",
		"::ffff:10.0.0.0/8", "::ffff:0:0/95", "127.0.0.111/24",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			if p.IsValid() {
				t.Fatalf("%q: error %v with a valid prefix %v", s, err, p)
			}
			if strings.Contains(err.Error(), "netip.") {
				t.Fatalf("%q: untrimmed error %q", s, err)
			}
			return
		}
		if !p.IsValid() {
			t.Fatalf("%q: invalid prefix without error", s)
		}
		if p != p.Masked() {
			t.Fatalf("%q: %v is not masked", s, p)
		}
		if p.Addr().Is4In6() {
			t.Fatalf("%q: %v is a mapped prefix that should be IPv4", s, p)
		}
		if q, err := netip.ParsePrefix(s); err == nil {
			if q.Addr().Is4In6() && !p.Addr().Is4() {
				t.Fatalf("%q: a mapped entry became the IPv6 prefix %v", s, p)
			}
			if q.Masked() != q {
				t.Fatalf("%q: host bits accepted as %v", s, p)
			}
		}
		if p.Addr().Zone() != "" {
			t.Fatalf("%q: zone kept in %v", s, p)
		}
		q, err := ParsePrefix(p.String())
		if err != nil || q != p {
			t.Fatalf("%q: %v does not round-trip: %v %v", s, p, q, err)
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				t.Fatalf("%q: accepted but netip rejects it: %v", s, err)
			}
			if !p.Contains(a.Unmap()) || p.Bits() != a.Unmap().BitLen() {
				t.Fatalf("%q: %v is not the single address %v", s, p, a)
			}
		}
	})
}
