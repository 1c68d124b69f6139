package ratelimit

import (
	"github.com/edgeguard/edgeguard/filters/ratelimit/redistest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/limiter"
)

// Limits high enough that the benchmarks measure the admit path.
const benchConf = "second: 1000000\nminute: 10000000\nhour: 100000000\n"

// BenchmarkDecision is one engine decision with the plugin's limits and key
// shape (consumer id), without the filter around it.
func BenchmarkDecision(b *testing.B) {
	f := filtertest.MustBuild(b, filtertest.Env(b), "rate-limiting", benchConf).(*RateLimit)
	key := []byte("c0b5c2d53-5d7e-4a9c-9f44-000000000001")
	lim := f.tiers[0].lim
	var d limiter.Decision
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		f.engine.Take(&d, key, lim, 1, now)
	}
}

// BenchmarkDecisionParallel: one client per goroutine, as connections would
// be spread over cores.
func BenchmarkDecisionParallel(b *testing.B) {
	f := filtertest.MustBuild(b, filtertest.Env(b), "rate-limiting", benchConf).(*RateLimit)
	lim := f.tiers[0].lim
	var gid atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := []byte("c-client-" + strconv.Itoa(int(gid.Add(1))))
		var d limiter.Decision
		now := time.Now()
		for pb.Next() {
			now = now.Add(time.Microsecond)
			f.engine.Take(&d, key, lim, 1, now)
		}
	})
}

// BenchmarkAccess is the plugin path: Access and Response of one request.
func BenchmarkAccess(b *testing.B) {
	cons := &filters.Consumer{ID: "0b5c2d53-5d7e-4a9c-9f44-000000000001", Tier: "premium"}
	for _, c := range []struct{ name, conf, ip string }{
		{"local/consumer", benchConf, ""},
		{"local/ip", benchConf + "limit_by: ip\n", ""},
		{"local/ip6", benchConf + "limit_by: ip\n", "2001:db8:1:2::7"}, // keyed by its /64
		{"local/tiers", "tiers:\n  standard: {second: 1000000}\n  premium: {second: 1000000, minute: 10000000, hour: 100000000}\ndefault_tier: standard\n", ""},
		{"local/hide_client_headers", benchConf + "hide_client_headers: true\n", ""},
		{"local/reject429", "hour: 1\n", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := filtertest.MustBuild(b, filtertest.Env(b), "rate-limiting", c.conf)
			ip := c.ip
			if ip == "" {
				ip = "203.0.113.7"
			}
			req := filtertest.NewRequest("GET", "/api/orders", ip)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				req.Reset()
				// The gateway sets Start from the request time; 1 µs apart
				// keeps the benchmark under its own limits.
				now = now.Add(time.Microsecond)
				req.Ctx.Start = now
				req.Ctx.Consumer = cons
				req.Run(f)
			}
		})
	}
	b.Run("baseline/reset-only", func(b *testing.B) {
		req := filtertest.NewRequest("GET", "/api/orders", "203.0.113.7")
		now := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			req.Reset()
			now = now.Add(time.Microsecond)
			req.Ctx.Start = now
			req.Ctx.Consumer = cons
		}
	})
}

func BenchmarkAccessParallel(b *testing.B) {
	f := filtertest.MustBuild(b, filtertest.Env(b), "rate-limiting", benchConf+"limit_by: ip\n")
	var gid atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		g := gid.Add(1)
		req := filtertest.NewRequest("GET", "/api/orders", "203.0.113."+strconv.Itoa(int(g%250)))
		now := time.Now()
		for pb.Next() {
			req.Reset()
			now = now.Add(time.Microsecond)
			req.Ctx.Start = now
			req.Run(f)
		}
	})
}

// BenchmarkAccessRedis is the redis policy over loopback, for comparison
// (it allocates: go-redis builds each command).
func BenchmarkAccessRedis(b *testing.B) {
	srv := redistest.Start(b)
	f := filtertest.MustBuild(b, filtertest.Env(b), "rate-limiting", redisYAML(srv.Addr(), benchConf))
	req := filtertest.NewRequest("GET", "/api/orders", "203.0.113.7")
	b.ReportAllocs()
	for b.Loop() {
		req.Reset()
		req.Ctx.Start = time.Now()
		if req.Run(f) != filters.Continue {
			b.Fatal("rejected")
		}
	}
}
