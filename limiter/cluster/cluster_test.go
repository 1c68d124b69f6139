package cluster

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/limiter"
)

func TestJoinAndSync(t *testing.T) {
	h := &harness{t: t, clock: &fakeClock{}, sync: 100 * time.Millisecond}
	ns := h.cluster(3, true)
	key := []byte("alice")
	for i := 0; i < 30; i++ {
		if !ns[0].engine.Take(nil, key, ns[0].lim, 1, h.clock.Now()) {
			t.Fatal("rejected")
		}
	}
	syncAll(ns)
	for _, n := range ns[1:] {
		var d limiter.Decision
		n.engine.Peek(&d, key, n.lim, 1, h.clock.Now())
		// 100 - 30, plus the refill credited by back-dating the batch to
		// the start of the sender's interval (100 ms) and 10 ms of transit.
		if got := d.W[0].Remaining + 1; got != 81 {
			t.Errorf("%s: %d tokens left after the sync, want 81", n.Name(), got)
		}
	}
	st := ns[1].Status()
	if st.Node != "n1" || !st.Encrypted || len(st.Members) != 3 || len(st.RateLimiters) != 1 || st.LastSync.IsZero() {
		t.Fatalf("status: %+v", st)
	}
	for _, m := range st.Members {
		if m.State != "alive" || m.Self != (m.Name == "n1") || (m.Name == "n0" && m.LastSync.IsZero()) {
			t.Errorf("member %+v", m)
		}
	}
	if b, err := json.Marshal(st); err != nil || !strings.Contains(string(b), `"rate_limiters":["rl"]`) {
		t.Errorf("json: %s %v", b, err)
	}
	if st.GossipSent == 0 || st.GossipRcvd == 0 {
		t.Error("no gossip bytes counted")
	}
}

func TestOfflineLetsPluginsBuild(t *testing.T) {
	env := filtertest.Env(t)
	env.Shared.Get(SharedKey, func() any { return Offline{} })
	if _, err := filtertest.Build(env, "rate-limiting", "second: 5\npolicy: cluster"); err != nil {
		t.Fatal(err)
	}
	// Without anything under the key, policy cluster is a config error.
	_, err := filtertest.Build(filtertest.Env(t), "rate-limiting", "second: 5\npolicy: cluster")
	if err == nil || !strings.Contains(err.Error(), "needs a cluster: section") {
		t.Fatalf("got %v", err)
	}
}
