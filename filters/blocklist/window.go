package blocklist

import (
	"net/netip"
	"sync"
)

// Window keeps a sliding-window sum per client address in bounded memory.
// The abuse detector sums event weights with it and bot-detection counts
// requests per IP.
//
// The sum over the last window is estimated from two fixed windows (the
// current one and the previous one, weighted by how much of it still
// overlaps the sliding window), as rate limiters commonly do: two integers
// per address instead of a list of events.
//
// Keys are spread over 64 shards, each with its own mutex and a map sized
// at construction, so Add takes one short, uncontended lock and does not
// allocate once a key is tracked. When a shard is full, a new key first
// evicts stale keys, then the key with the smallest sum among a few
// sampled ones. A Window is safe for concurrent use.
type Window struct {
	window   int64 // nanoseconds
	perShard int
	shards   [numShards]windowShard
}

const numShards = 64

type windowShard struct {
	mu    sync.Mutex
	m     map[netip.Addr]windowEntry
	swept int64    // window index of the last full stale sweep
	_     [32]byte // keep shards on separate cache lines
}

type windowEntry struct {
	idx       int64 // index of the current fixed window (now / window)
	cur, prev int64
}

// NewWindow returns a Window over window nanoseconds (> 0) tracking at
// most maxKeys addresses (rounded up to a multiple of 64).
func NewWindow(window int64, maxKeys int) *Window {
	if window <= 0 {
		panic("blocklist: NewWindow: window must be > 0")
	}
	per := max(1, (maxKeys+numShards-1)/numShards)
	w := &Window{window: window, perShard: per}
	for i := range w.shards {
		w.shards[i].m = make(map[netip.Addr]windowEntry, min(per, 4096))
	}
	return w
}

func shardOf(a netip.Addr) int {
	b := a.As16()
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	lo := uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 |
		uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	h := (hi*0x9E3779B97F4A7C15 ^ lo) * 0xBF58476D1CE4E5B9
	return int(h >> 58)
}

// Add adds delta to key's sum at time now (unix nanoseconds) and returns
// the sum over the window ending at now. key must be a plain address
// without zone (callers mask IPv6 to a prefix first).
func (w *Window) Add(key netip.Addr, delta, now int64) int64 {
	s := &w.shards[shardOf(key)]
	idx := now / w.window
	s.mu.Lock()
	e, ok := s.m[key]
	if !ok && len(s.m) >= w.perShard {
		w.evict(s, idx)
	}
	switch {
	case !ok || idx > e.idx+1:
		e = windowEntry{idx: idx}
	case idx == e.idx+1:
		e = windowEntry{idx: idx, prev: e.cur}
	case idx < e.idx:
		// clock went backwards: count into the current window
		idx = e.idx
	}
	e.cur += delta
	s.m[key] = e
	sum := w.estimate(e, idx, now)
	s.mu.Unlock()
	return sum
}

// Sum returns key's current sum without adding to it.
func (w *Window) Sum(key netip.Addr, now int64) int64 {
	s := &w.shards[shardOf(key)]
	idx := now / w.window
	s.mu.Lock()
	e, ok := s.m[key]
	s.mu.Unlock()
	if !ok || idx > e.idx+1 {
		return 0
	}
	if idx == e.idx+1 {
		e = windowEntry{idx: idx, prev: e.cur}
	}
	return w.estimate(e, max(idx, e.idx), now)
}

// Reset forgets key.
func (w *Window) Reset(key netip.Addr) {
	s := &w.shards[shardOf(key)]
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// Len returns the number of tracked keys.
func (w *Window) Len() int {
	n := 0
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (w *Window) estimate(e windowEntry, idx, now int64) int64 {
	if e.prev == 0 {
		return e.cur
	}
	elapsed := now - idx*w.window // into the current window
	if elapsed < 0 || elapsed > w.window {
		elapsed = w.window
	}
	// prev × the share of the previous window still inside the sliding
	// one (in float64: prev × window could overflow int64)
	return int64(float64(e.prev)*float64(w.window-elapsed)/float64(w.window)) + e.cur
}

// evict makes room in a full shard (s.mu held): once per window it drops
// every key whose windows are over; otherwise (or when none was) it drops
// the smallest of up to 8 keys in map order, which Go randomises. The full
// sweep is rationed so that a flood of new addresses costs O(1) per key.
func (w *Window) evict(s *windowShard, idx int64) {
	if s.swept != idx {
		s.swept = idx
		for k, e := range s.m {
			if e.idx < idx-1 {
				delete(s.m, k)
			}
		}
		if len(s.m) < w.perShard {
			return
		}
	}
	var victim netip.Addr
	best := int64(-1)
	n := 0
	for k, e := range s.m {
		if best < 0 || e.cur+e.prev < best {
			victim, best = k, e.cur+e.prev
		}
		if n++; n == 8 {
			break
		}
	}
	delete(s.m, victim)
}
