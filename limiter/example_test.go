package limiter_test

import (
	"fmt"
	"time"

	"github.com/edgeguard/edgeguard/limiter"
)

func ExampleEngine_Take() {
	e := limiter.NewEngine(limiter.Config{})
	lim, _ := e.NewLimit("standard",
		limiter.Window{Slot: 0, Period: time.Second, Limit: 2},
		limiter.Window{Slot: 1, Period: time.Minute, Limit: 100})
	now := time.Now()
	var d limiter.Decision
	for i := 0; i < 3; i++ {
		ok := e.Take(&d, []byte("203.0.113.7"), lim, 1, now)
		fmt.Println(ok, d.W[0].Remaining, d.W[1].Remaining, d.RetryAfter)
	}
	// Half a second later the second window has a token again.
	fmt.Println(e.Take(&d, []byte("203.0.113.7"), lim, 1, now.Add(d.RetryAfter)))
	// Output:
	// true 1 99 0s
	// true 0 98 0s
	// false 0 98 500ms
	// true
}

func ExampleEngine_Drain() {
	e := limiter.NewEngine(limiter.Config{TrackDeltas: true})
	lim, _ := e.NewLimit("standard", limiter.Window{Slot: 1, Period: time.Minute, Limit: 100})
	now := time.Now()
	for i := 0; i < 3; i++ {
		e.Take(nil, []byte("alice"), lim, 1, now)
	}
	// A sync layer ships local consumption to the other nodes...
	e.Drain(func(key []byte, l *limiter.Limit, n uint32) {
		fmt.Printf("%s %s %d\n", key, l.Name(), n)
	})
	// ...and applies theirs.
	e.ApplyRemote([]byte("alice"), lim, 10, now)
	var d limiter.Decision
	e.Peek(&d, []byte("alice"), lim, 1, now)
	fmt.Println(d.W[0].Remaining)
	// Output:
	// alice standard 3
	// 86
}
