package clientip

import (
	"net/netip"
	"testing"
)

// FuzzResolve checks that the resolved client is never a trusted proxy
// unless every hop was trusted or unparsable, and that an untrusted peer
// always wins.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "6.6.6.6, 198.51.100.7, 10.2.2.2", "[::1]:80, garbage", "", ",,,", "::ffff:1.2.3.4:80", "1.2.3.4:99999"} {
		f.Add(s, true)
	}
	r, _ := New([]string{"10.0.0.0/8", "::1"}, "")
	f.Fuzz(func(t *testing.T, xff string, trustedPeer bool) {
		peer := netip.MustParseAddr("203.0.113.1")
		if trustedPeer {
			peer = netip.MustParseAddr("10.0.0.1")
		}
		got := r.Resolve(peer, [][]byte{[]byte(xff)})
		if !got.IsValid() {
			t.Fatalf("invalid result for %q", xff)
		}
		if !trustedPeer && got != peer {
			t.Fatalf("untrusted peer overridden by %q -> %v", xff, got)
		}
		if got.Is4In6() {
			t.Fatalf("mapped address returned: %v", got)
		}
	})
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4:80", "[::1]:80", "[::1]", "::1", "x", "[", "[]:", "1:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := ParseAddr([]byte(s))
		if ok && (!a.IsValid() || a.Is4In6() || a.Zone() != "") {
			t.Fatalf("%q -> %v", s, a)
		}
	})
}
