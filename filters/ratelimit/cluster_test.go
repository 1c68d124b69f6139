package ratelimit

import (
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/limiter"
)

type fakeCluster struct{ engines map[string]*limiter.Engine }

func (f *fakeCluster) RegisterEngine(name string, e *limiter.Engine) error {
	f.engines[name] = e
	return nil
}

func TestPolicyCluster(t *testing.T) {
	env := filtertest.Env(t)
	fc := &fakeCluster{engines: map[string]*limiter.Engine{}}
	env.Shared.Get(ClusterSharedKey, func() any { return fc })
	f := filtertest.MustBuild(t, env, "rate-limiting", "second: 2\nlimit_by: ip\npolicy: cluster").(*RateLimit)
	e := fc.engines["test"]
	if e == nil || e != f.Engine() {
		t.Fatalf("engine not registered with the cluster: %v", fc.engines)
	}
	for i, want := range []bool{true, true, false} {
		req := filtertest.NewRequest("GET", "/", "10.0.0.1")
		if got := req.Run(f) == filters.Continue; got != want {
			t.Fatalf("request %d: admitted %v, want %v", i, got, want)
		}
	}
	// The engine tracks deltas for the sync: two admitted requests.
	total := uint32(0)
	e.Drain(func(key []byte, lim *limiter.Limit, n uint32) { total += n })
	if total != 2 {
		t.Fatalf("drained %d, want 2", total)
	}
	// A reload keeps the engine and registers it again.
	f2 := filtertest.MustBuild(t, env, "rate-limiting", "second: 2\nlimit_by: ip\npolicy: cluster").(*RateLimit)
	if f2.Engine() != e {
		t.Fatal("reload created a new engine")
	}
	// A local instance of the same name has its own engine.
	f3 := filtertest.MustBuild(t, env, "rate-limiting", "second: 2\nlimit_by: ip").(*RateLimit)
	if f3.Engine() == e {
		t.Fatal("policy local shares the cluster engine")
	}
}
