package iprestrict_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/iprestrict"
)

// randomPrefixes returns n distinct-ish random prefixes: 80% IPv4 (/8–/32,
// mostly /16–/32) and 20% IPv6 (/16–/128), from a fixed seed.
func randomPrefixes(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]string, 0, n)
	for len(out) < n {
		var p netip.Prefix
		if r.IntN(5) < 4 {
			var b [4]byte
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			bits := 16 + r.IntN(17)
			if r.IntN(50) == 0 {
				bits = 8 + r.IntN(8)
			}
			p = netip.PrefixFrom(netip.AddrFrom4(b), bits).Masked()
		} else {
			var b [16]byte
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			p = netip.PrefixFrom(netip.AddrFrom16(b), 16+r.IntN(113)).Masked()
		}
		out = append(out, p.String())
	}
	return out
}

// benchIPs picks addresses that are in the deny list (hit) or in none of
// the lists (miss).
func benchFilter(b *testing.B, n int) filters.Filter {
	b.Helper()
	f, err := iprestrict.NewFromConfig(iprestrict.Config{
		Deny:  randomPrefixes(n, 1),
		Allow: randomPrefixes(n, 2),
	}, filtertest.Env(b))
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func findAddr(b *testing.B, f filters.Filter, v6, wantPass bool, reason string) netip.Addr {
	b.Helper()
	fi := f.(*iprestrict.Filter)
	r := rand.New(rand.NewPCG(7, 7))
	for range 10_000_000 {
		var a netip.Addr
		if v6 {
			var x [16]byte
			for i := range x {
				x[i] = byte(r.Uint32())
			}
			a = netip.AddrFrom16(x)
		} else {
			var x [4]byte
			for i := range x {
				x[i] = byte(r.Uint32())
			}
			a = netip.AddrFrom4(x)
		}
		if ok, why := fi.Check(a); ok == wantPass && why == reason {
			return a
		}
	}
	b.Fatalf("no address with pass=%v reason=%q", wantPass, reason)
	return netip.Addr{}
}

// BenchmarkAccess measures one decision (Access on a prepared request) with
// 100,000 allow and 100,000 deny CIDRs, against a one-entry baseline.
func BenchmarkAccess(b *testing.B) {
	small, err := iprestrict.NewFromConfig(iprestrict.Config{Allow: []string{"10.0.0.0/8"}}, filtertest.Env(b))
	if err != nil {
		b.Fatal(err)
	}
	big := benchFilter(b, 100_000)
	cases := []struct {
		name string
		f    filters.Filter
		addr netip.Addr
	}{
		{"baseline-1-cidr/v4-allowed", small, netip.MustParseAddr("10.1.2.3")},
		{"100k/v4-allowed", big, findAddr(b, big, false, true, "")},
		{"100k/v4-denied", big, findAddr(b, big, false, false, iprestrict.ReasonDenied)},
		{"100k/v4-not-allowed", big, findAddr(b, big, false, false, iprestrict.ReasonNotAllowed)},
		{"100k/v6-allowed", big, findAddr(b, big, true, true, "")},
		{"100k/v6-not-allowed", big, findAddr(b, big, true, false, iprestrict.ReasonNotAllowed)},
	}
	mapped := cases[1].addr.As16()
	cases = append(cases, struct {
		name string
		f    filters.Filter
		addr netip.Addr
	}{"100k/v4-mapped-allowed", big, netip.AddrFrom16(mapped)})

	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			r := filtertest.NewRequest("GET", "/", tc.addr.String())
			b.ReportAllocs()
			for b.Loop() {
				tc.f.Access(&r.Ctx)
				if r.Ctx.RejectedBy != "" {
					r.Reset()
				}
			}
		})
	}
}

// BenchmarkCheck is the bare table decision, without the Ctx and the
// rejection body.
func BenchmarkCheck(b *testing.B) {
	big := benchFilter(b, 100_000).(*iprestrict.Filter)
	for _, v6 := range []bool{false, true} {
		name := "v4"
		if v6 {
			name = "v6"
		}
		a := findAddr(b, big, v6, false, iprestrict.ReasonNotAllowed)
		b.Run("100k/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				big.Check(a)
			}
		})
	}
}

// BenchmarkBuild measures compiling 100,000 allow + 100,000 deny entries
// from YAML (config load time, not the request path).
func BenchmarkBuild(b *testing.B) {
	cfg := iprestrict.Config{Deny: randomPrefixes(100_000, 1), Allow: randomPrefixes(100_000, 2)}
	env := filtertest.Env(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iprestrict.NewFromConfig(cfg, env); err != nil {
			b.Fatal(err)
		}
	}
}
