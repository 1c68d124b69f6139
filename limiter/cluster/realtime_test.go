package cluster

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRealTimeEvenSpread runs the scenario on the wall clock: 3
// nodes on loopback, each with its own 100 ms sync loop, and 3 load
// generators offering 2× the limit (100/s) spread evenly, for 3 s.
func TestRealTimeEvenSpread(t *testing.T) {
	if testing.Short() {
		t.Skip("wall-clock test")
	}
	h := &harness{t: t, sync: 100 * time.Millisecond}
	ns := h.cluster(3, false)
	key := []byte("rt-client")
	var admitted atomic.Int64
	const d = 3 * time.Second
	start := time.Now()
	var wg sync.WaitGroup
	for _, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(15 * time.Millisecond) // ~66.7/s per node
			defer tick.Stop()
			for range tick.C {
				now := time.Now()
				if now.Sub(start) >= d {
					return
				}
				if n.engine.Take(nil, key, n.lim, 1, now) {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	want := int(simRate + elapsed.Seconds()*simRate)
	within(t, "real time, even spread 2×, 3 s", int(admitted.Load()), want, 0.05)
}
