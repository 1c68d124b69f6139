package proxy

import (
	"sync/atomic"
	"time"
)

// clockAnchor is a time.Now reading at most a second old; see startTime.
var clockAnchor atomic.Pointer[time.Time]

// startTime returns the current time for a request's start with one clock
// reading: the anchor plus the monotonic time since it. time.Now reads two
// clocks (wall and monotonic, a vDSO call each: 48 ns against time.Since's
// 26 ns here), which fasthttp's server did for every request before the
// handler ran, until LazyRequestTime. The wall time returned drifts from the
// system's by at most the clock's slew over a second (0.5 ms), and a step of
// the system clock shows within a second.
func startTime() time.Time {
	if a := clockAnchor.Load(); a != nil {
		if d := time.Since(*a); d < time.Second {
			return a.Add(d)
		}
	}
	now := time.Now()
	clockAnchor.Store(&now) // an allocation a second
	return now
}
