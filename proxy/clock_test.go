package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/proxy/deadline"
)

// TestStartTime: startTime agrees with time.Now (wall and monotonic) and
// with deadline.Now, and an anchor older than a second is replaced.
func TestStartTime(t *testing.T) {
	for range 3 {
		before, nBefore := time.Now(), deadline.Now()
		got, n := startTime()
		after, nAfter := time.Now(), deadline.Now()
		if got.Before(before) || got.After(after) {
			t.Fatalf("startTime %v not within [%v, %v] (monotonic)", got, before, after)
		}
		if w := got.UnixNano(); w < before.UnixNano()-int64(time.Millisecond) || w > after.UnixNano()+int64(time.Millisecond) {
			t.Fatalf("wall time %d not within 1ms of [%d, %d]", w, before.UnixNano(), after.UnixNano())
		}
		if n < nBefore || n > nAfter || deadline.FromTime(got) != n {
			t.Fatalf("clock reading %d: want within [%d, %d] and equal to the time's %d", n, nBefore, nAfter, deadline.FromTime(got))
		}
		if !strings.Contains(got.String(), " m=") {
			t.Fatalf("no monotonic reading in %v", got)
		}
	}
	old := time.Now().Add(-2 * time.Second)
	anchor.Store(&clockAnchor{t: old, mono: deadline.FromTime(old)})
	startTime()
	if a := anchor.Load(); time.Since(a.t) > time.Second {
		t.Fatalf("anchor %v not refreshed", a.t)
	}
}
