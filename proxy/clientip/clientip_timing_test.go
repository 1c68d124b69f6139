package clientip

import (
	"net/netip"
	"testing"
)

func BenchmarkResolve(b *testing.B) {
	r, _ := New([]string{"10.0.0.0/8", "172.16.0.0/12"}, "")
	b.Run("untrusted-peer", func(b *testing.B) {
		peer := netip.MustParseAddr("203.0.113.1")
		b.ReportAllocs()
		for b.Loop() {
			r.Resolve(peer, nil)
		}
	})
	b.Run("three-hops", func(b *testing.B) {
		peer := netip.MustParseAddr("10.1.1.1")
		xff := [][]byte{[]byte("6.6.6.6, 198.51.100.7, 10.2.2.2")}
		b.ReportAllocs()
		for b.Loop() {
			r.Resolve(peer, xff)
		}
	})
}
