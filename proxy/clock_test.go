package proxy

import (
	"strings"
	"testing"
	"time"
)

// TestStartTime: startTime agrees with time.Now (wall and monotonic), and
// an anchor older than a second is replaced.
func TestStartTime(t *testing.T) {
	for range 3 {
		before := time.Now()
		got := startTime()
		after := time.Now()
		if got.Before(before) || got.After(after) {
			t.Fatalf("startTime %v not within [%v, %v] (monotonic)", got, before, after)
		}
		if w := got.UnixNano(); w < before.UnixNano()-int64(time.Millisecond) || w > after.UnixNano()+int64(time.Millisecond) {
			t.Fatalf("wall time %d not within 1ms of [%d, %d]", w, before.UnixNano(), after.UnixNano())
		}
		if !strings.Contains(got.String(), " m=") {
			t.Fatalf("no monotonic reading in %v", got)
		}
	}
	old := time.Now().Add(-2 * time.Second)
	clockAnchor.Store(&old)
	startTime()
	if a := clockAnchor.Load(); time.Since(*a) > time.Second {
		t.Fatalf("anchor %v not refreshed", *a)
	}
}
