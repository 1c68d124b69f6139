package blocklist_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

func filledList(b *testing.B, n int) *blocklist.List {
	b.Helper()
	l, _ := blocklist.Open(blocklist.Options{MaxEntries: n + 1})
	r := rand.New(rand.NewPCG(1, 2))
	for l.Len() < n {
		a := netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		if _, err := l.Add(netip.PrefixFrom(a, 20+r.IntN(13)), time.Hour, "", ""); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

func missAddr(l *blocklist.List) netip.Addr {
	r := rand.New(rand.NewPCG(3, 4))
	for {
		a := netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		if !l.Contains(a) {
			return a
		}
	}
}

// BenchmarkContains is the per-request blocklist check.
func BenchmarkContains(b *testing.B) {
	empty, _ := blocklist.Open(blocklist.Options{})
	l1k := filledList(b, 1000)
	l100k := filledList(b, 100_000)
	hit := l100k.List()[500].Prefix.Addr()
	for _, tc := range []struct {
		name string
		l    *blocklist.List
		a    netip.Addr
	}{
		{"baseline-empty", empty, netip.MustParseAddr("203.0.113.7")},
		{"1k/miss", l1k, missAddr(l1k)},
		{"100k/miss", l100k, missAddr(l100k)},
		{"100k/hit", l100k, hit},
		{"100k/v6-miss", l100k, netip.MustParseAddr("2001:db8::1")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tc.l.Contains(tc.a)
			}
		})
	}
	b.Run("100k/access-blocked", func(b *testing.B) {
		r := filtertest.NewRequest("GET", "/", hit.String())
		b.ReportAllocs()
		for b.Loop() {
			l100k.Access(&r.Ctx)
			r.Reset()
		}
	})
}

// BenchmarkAdd is one Add (persistent insert and snapshot swap) into a list
// of 10,000 entries; not on the request path.
func BenchmarkAdd(b *testing.B) {
	l := filledList(b, 10_000)
	p := netip.MustParsePrefix("203.0.113.7/32")
	b.ReportAllocs()
	for b.Loop() {
		l.Add(p, time.Hour, "bench", "")
	}
}

// BenchmarkObserve is the abuse detector's per-request cost in the log
// phase.
func BenchmarkObserve(b *testing.B) {
	l, _ := blocklist.Open(blocklist.Options{})
	d, err := blocklist.NewDetector(blocklist.AbuseConfig{Enabled: true, Threshold: 1e12}, l, blocklist.DetectorOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("203.0.113.7")
	now := time.Now()
	b.Run("200-unweighted", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Observe(ip, 200, "", now)
		}
	})
	b.Run("401-scored", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Observe(ip, 401, "jwt", now)
		}
	})
	b.Run("401-scored-parallel-many-ips", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(rand.Uint64(), 1))
			for pb.Next() {
				a := netip.AddrFrom4([4]byte{10, 0, byte(r.Uint32()), byte(r.Uint32())})
				d.Observe(a, 401, "", now)
			}
		})
	})
}
