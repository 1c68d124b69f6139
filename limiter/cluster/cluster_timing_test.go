package cluster

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	_ "github.com/edgeguard/edgeguard/filters/ratelimit"
)

// pluginEnv returns an env whose Shared holds a running node (sync loop on,
// 100 ms), as the gateway sets it up.
func pluginEnv(tb testing.TB) *filters.Env {
	port := 0
	n, err := New(Config{NodeName: "bench", BindAddr: "127.0.0.1", BindPort: &port, Insecure: true, SyncInterval: 100 * time.Millisecond},
		Options{Logger: testLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Shutdown() })
	env := filtertest.Env(tb)
	env.Shared.Get(SharedKey, func() any { return n })
	return env
}

const benchConfig = "second: 1000000000\nlimit_by: ip\npolicy: "

// BenchmarkAccess compares the per-request cost of policy cluster with
// policy local: 10,000 client IPs, the plugin's full Access + Response.
func BenchmarkAccess(b *testing.B) {
	for _, policy := range []string{"local", "cluster"} {
		b.Run(policy, func(b *testing.B) {
			env := pluginEnv(b)
			f, err := filtertest.Build(env, "rate-limiting", benchConfig+policy)
			if err != nil {
				b.Fatal(err)
			}
			reqs := make([]*filtertest.Request, 10_000)
			for i := range reqs {
				reqs[i] = filtertest.NewRequest("GET", "/", fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
				reqs[i].Run(f) // warm the request's buffers
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := reqs[i%len(reqs)]
				if r.Run(f) != filters.Continue {
					b.Fatal("rejected")
				}
			}
		})
	}
}

func TestAccessZeroAllocsCluster(t *testing.T) {
	env := pluginEnv(t)
	f, err := filtertest.Build(env, "rate-limiting", benchConfig+"cluster")
	if err != nil {
		t.Fatal(err)
	}
	r := filtertest.NewRequest("GET", "/", "10.1.2.3")
	r.Run(f)
	if a := testing.AllocsPerRun(1000, func() { r.Run(f) }); a != 0 {
		t.Fatalf("policy cluster: %v allocs per request, want 0", a)
	}
}

// BenchmarkGossip10kKeys: one sync round in which 10,000 keys (client
// IPs, as the plugin stores them) were active, sent encrypted to one
// peer. Reports the bytes on the wire per sync and per second at a 100 ms
// sync interval.
func BenchmarkGossip10kKeys(b *testing.B) {
	h := &harness{t: b, clock: &fakeClock{}, sync: 100 * time.Millisecond}
	ns := h.cluster(2, true)
	a := ns[0]
	keys := make([][]byte, 10_000)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range keys {
		k := make([]byte, 17) // kind 'i' + IPv4-mapped address, random
		k[0] = 'i'
		k[11], k[12] = 0xff, 0xff
		binary.BigEndian.PutUint32(k[13:], rng.Uint32())
		keys[i] = k
	}
	syncAll(ns) // settle
	sent0 := a.tr.sent.Get()
	batches0 := a.batchesSent.Get()
	keys0 := ns[1].keysRcvd.Get()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.clock.Advance(time.Second)
		now := h.clock.Now()
		for _, k := range keys {
			a.engine.Take(nil, k, a.lim, 1, now)
		}
		syncAll(ns)
	}
	b.StopTimer()
	bytes := float64(a.tr.sent.Get()-sent0) / float64(b.N)
	b.ReportMetric(bytes, "wire-B/sync")
	b.ReportMetric(float64(a.batchesSent.Get()-batches0)/float64(b.N), "packets/sync")
	b.ReportMetric(bytes*10/1e6, "MB/s/peer@100ms")
	b.ReportMetric(float64(ns[1].keysRcvd.Get()-keys0)/float64(b.N), "keys-rcvd/sync")
}
