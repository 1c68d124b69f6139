package limiter

import (
	"math"
	"testing"
	"time"
)

func TestApplyRemoteDebt(t *testing.T) {
	e := NewEngine(Config{})
	lim, _ := e.NewLimit("t", Window{Slot: 0, Period: time.Second, Limit: 10})
	now := e.epoch.Add(time.Hour)
	key := []byte("k")
	// 30 remote tokens on a bucket of 10: 20 in debt (2 s of refill).
	e.ApplyRemoteDebt(key, lim, 30, now, 4)
	var d Decision
	if e.Peek(&d, key, lim, 1, now.Add(2*time.Second)) {
		t.Fatal("admitted while in debt")
	}
	if !e.Peek(&d, key, lim, 1, now.Add(2*time.Second+100*time.Millisecond)) {
		t.Fatalf("not admitted once the debt is paid: retry %v", d.RetryAfter)
	}
	// The debt is capped at debtBursts bursts.
	e.ApplyRemoteDebt([]byte("big"), lim, math.MaxInt32, now, 4)
	if !e.Peek(&d, []byte("big"), lim, 1, now.Add(5*time.Second+100*time.Millisecond)) {
		t.Fatal("debt not capped at 4 bursts")
	}
	// debtBursts 0 is ApplyRemote: drains to empty at most.
	e.ApplyRemoteDebt([]byte("z"), lim, 30, now, 0)
	if !e.Peek(&d, []byte("z"), lim, 1, now.Add(100*time.Millisecond)) {
		t.Fatal("debt with debtBursts 0")
	}
	// Remote consumption is not drained back.
	n := 0
	e.Drain(func([]byte, *Limit, uint32) { n++ })
	if n != 0 {
		t.Fatalf("remote consumption drained: %d", n)
	}
}

func TestLimitByName(t *testing.T) {
	e := NewEngine(Config{})
	a, _ := e.NewLimit("gold", Window{Slot: 0, Period: time.Second, Limit: 10})
	b, _ := e.NewLimit("gold", Window{Slot: 0, Period: time.Second, Limit: 20}) // after a reload
	if e.LimitByName("gold") != b || e.LimitByName("silver") != nil || a == b {
		t.Fatal("LimitByName must return the latest limit of that name")
	}
}

func TestExportMergeUsage(t *testing.T) {
	src := NewEngine(Config{})
	dst := NewEngine(Config{}) // another epoch: Usage is relative
	ls, _ := src.NewLimit("t", Window{Slot: 0, Period: time.Second, Limit: 10}, Window{Slot: 1, Period: time.Minute, Limit: 100})
	ld, _ := dst.NewLimit("t", Window{Slot: 0, Period: time.Second, Limit: 10}, Window{Slot: 1, Period: time.Minute, Limit: 100})
	now := time.Now()
	src.Take(nil, []byte("busy"), ls, 7, now)
	src.Take(nil, []byte("idle"), ls, 1, now.Add(-2*time.Minute)) // full again by now
	n := 0
	src.Export(now, func(key []byte, lim *Limit, u *Usage) {
		n++
		if string(key) != "busy" || lim != ls || u[0] != 700*time.Millisecond || u[1] != 7*600*time.Millisecond {
			t.Errorf("export %q %+v", key, u)
		}
		dst.MergeUsage(key, ld, u, now)
		dst.MergeUsage(key, ld, u, now) // idempotent
	})
	if n != 1 {
		t.Fatalf("exported %d keys, want 1", n)
	}
	var d Decision
	dst.Peek(&d, []byte("busy"), ld, 1, now)
	if d.W[0].Remaining != 2 || d.W[1].Remaining != 92 { // after the peeked token
		t.Fatalf("merged state: %+v", d.W[:2])
	}
}
