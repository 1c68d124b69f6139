package cluster

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/hashicorp/memberlist"

	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/limiter"
)

// testSecret is a base64 32-byte key: tests run encrypted, as production.
const testSecret = "x2BTkD6Wgx0W9xFNvFG4mWLu8j0V1r9kfT7y2oF0a2E="

// fakeClock is shared by the nodes of a simulation.
type fakeClock struct{ ns atomic.Int64 }

var simBase = time.Now()

func (c *fakeClock) Now() time.Time          { return simBase.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fastLAN makes failure detection quick for tests.
func fastLAN(c *memberlist.Config) {
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 2
	c.GossipInterval = 50 * time.Millisecond
	c.GossipToTheDeadTime = 5 * time.Second
	c.PushPullInterval = 5 * time.Second
	c.TCPTimeout = time.Second
	c.DeadNodeReclaimTime = time.Second
}

type testNode struct {
	*Node
	engine *limiter.Engine
	lim    *limiter.Limit
	set    *metrics.Set
}

type harness struct {
	t     testing.TB
	clock *fakeClock // nil: real time
	sync  time.Duration
	nodes []*testNode
	mu    sync.Mutex
}

func testLogger() *slog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// start starts a node named name joining seeds; manual selects ManualSync.
func (h *harness) start(name string, manual bool, seeds ...string) *testNode {
	h.t.Helper()
	return h.startWith(name, manual, nil, seeds...)
}

func (h *harness) startWith(name string, manual bool, bl *blocklist.List, seeds ...string) *testNode {
	h.t.Helper()
	port := 0
	cfg := Config{NodeName: name, BindAddr: "127.0.0.1", BindPort: &port, Seeds: seeds, Secret: testSecret, SyncInterval: h.sync}
	set := metrics.NewSet()
	opts := Options{Metrics: set, Logger: testLogger(), Tune: fastLAN, ManualSync: manual, RejoinInterval: 300 * time.Millisecond, Blocklist: bl}
	if h.clock != nil {
		opts.Now = h.clock.Now
	}
	n, err := New(cfg, opts)
	if err != nil {
		h.t.Fatalf("start %s: %v", name, err)
	}
	epoch := simBase.Add(-time.Hour)
	e := limiter.NewEngine(limiter.Config{TrackDeltas: true, Epoch: epoch})
	lim, err := e.NewLimit("std", limiter.Window{Slot: 0, Period: time.Second, Limit: 100})
	if err != nil {
		h.t.Fatal(err)
	}
	n.RegisterEngine("rl", e)
	tn := &testNode{Node: n, engine: e, lim: lim, set: set}
	h.mu.Lock()
	h.nodes = append(h.nodes, tn)
	h.mu.Unlock()
	h.t.Cleanup(func() { n.Shutdown() })
	return tn
}

// cluster starts k nodes, the first being the others' seed, and waits until
// all see k members.
func (h *harness) cluster(k int, manual bool) []*testNode {
	h.t.Helper()
	first := h.start("n0", manual)
	out := []*testNode{first}
	for i := 1; i < k; i++ {
		out = append(out, h.start(fmt.Sprintf("n%d", i), manual, first.Addr()))
	}
	h.waitMembers(out, k, 5*time.Second)
	return out
}

func (h *harness) waitMembers(ns []*testNode, k int, within time.Duration) {
	h.t.Helper()
	waitFor(h.t, within, fmt.Sprintf("%d alive members", k), func() bool {
		for _, n := range ns {
			if n.ml.NumMembers() != k {
				return false
			}
		}
		return true
	})
}

func waitFor(t testing.TB, within time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// syncAll runs one sync round on every live node and waits (up to 250 ms of
// real time) until every batch sent has been received.
func syncAll(ns []*testNode) {
	count := func() (sent, rcvd uint64) {
		for _, n := range ns {
			if n.tr.cut.Load() {
				continue // partitioned: its batches go nowhere
			}
			sent += n.batchesSent.Get()
			rcvd += n.batchesRcvd.Get()
		}
		return sent, rcvd
	}
	sent0, rcvd0 := count()
	for _, n := range ns {
		n.SyncNow()
	}
	deadline := time.Now().Add(250 * time.Millisecond)
	for time.Now().Before(deadline) {
		sent, rcvd := count()
		if rcvd-rcvd0 >= sent-sent0 {
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}
