package limiter

import (
	"crypto/sha256"
	"hash/maphash"
	"math"
	"time"
)

// capMul is a×b for positive a and b, capped at MaxInt64/4 so that adding an
// engine time to it cannot overflow.
func capMul(a, b int64) int64 {
	const top = math.MaxInt64 / 4
	if a > top/b {
		return top
	}
	return a * b
}

// This file holds the parts of the cluster seam that the limiter/cluster
// package needs beyond Drain and ApplyRemote: debt-carrying remote
// consumption, limits by name, and state export/merge for nodes that join.

// ApplyRemoteDebt is ApplyRemote that may push the key's buckets below
// empty: a bucket's arrival time may run up to debtBursts bursts past
// "empty" (the bucket then refills for that long before it admits again).
// Summing every node's consumption needs this: when all nodes admit from
// their own copy of a bucket during one sync interval, the excess must be
// paid back afterwards, or an evenly loaded cluster would admit N times the
// limit. debtBursts ≤ 0 is ApplyRemote.
func (e *Engine) ApplyRemoteDebt(key []byte, lim *Limit, n int64, now time.Time, debtBursts int64) {
	if lim.e != e {
		panic("limiter: limit used with another engine")
	}
	if n < 1 {
		return
	}
	debtBursts = min(max(debtBursts, 0), 64)
	t := e.nanos(now)
	var digest [1 + sha256.Size]byte
	key = canonical(&digest, key)
	h := maphash.Bytes(e.seed, key)
	s := &e.shards[h&e.mask]
	ent, _ := s.acquire(h>>e.shift, key, t)
	if ent.lim == 0 {
		ent.lim = lim.id
	}
	for i := 0; i < lim.n; i++ {
		w := &lim.w[i]
		ceiling := capMul(w.tol, 1+debtBursts)
		add := ceiling
		if n <= ceiling/w.interval {
			add = n * w.interval
		}
		ent.tat[w.slot] = min(max(ent.tat[w.slot], t)+add, t+ceiling)
	}
	ent.mu.Unlock()
}

// LimitByName returns the most recently registered limit called name, or
// nil. The cluster layer uses it to map a peer's tier name to this node's
// limit.
func (e *Engine) LimitByName(name string) *Limit {
	ls := *e.limits.Load()
	for i := len(ls) - 1; i >= 0; i-- {
		if ls[i].name == name {
			return ls[i]
		}
	}
	return nil
}

// Usage is a key's consumption per slot at some instant: how far each
// bucket's arrival time is ahead of that instant (0: the bucket is full). It
// is independent of the engine's epoch, so it can travel between nodes.
type Usage [MaxWindows]time.Duration

// Export calls fn for every key whose buckets are not all full at now, with
// the limit it last used and its Usage. key is only valid during the call.
// fn runs without engine locks held. Export locks one shard at a time.
func (e *Engine) Export(now time.Time, fn func(key []byte, lim *Limit, u *Usage)) {
	t := e.nanos(now)
	type item struct {
		key  [keyInline]byte
		klen uint8
		lim  uint16
		u    Usage
	}
	var buf []item
	for i := range e.shards {
		s := &e.shards[i]
		buf = buf[:0]
		s.mu.Lock()
		for idx := 0; idx < s.next; idx++ {
			ent := s.entry(idx)
			if !ent.used {
				continue
			}
			ent.mu.Lock()
			var it item
			busy := false
			for w, v := range ent.tat {
				if v > t {
					it.u[w] = time.Duration(v - t)
					busy = true
				}
			}
			if busy && ent.lim != 0 {
				it.key, it.klen, it.lim = ent.key, ent.klen, ent.lim
				buf = append(buf, it)
			}
			ent.mu.Unlock()
		}
		s.mu.Unlock()
		for j := range buf {
			it := &buf[j]
			if lim := e.limitByID(it.lim); lim != nil {
				fn(it.key[:it.klen], lim, &it.u)
			}
		}
	}
}

// MergeUsage raises key's buckets to at least the consumption u (as
// exported by another node) at now: per slot, the larger of the two wins,
// so merging is idempotent and never counts anything twice. It creates the
// key if needed. Slots are capped at 65 bursts of lim's windows.
func (e *Engine) MergeUsage(key []byte, lim *Limit, u *Usage, now time.Time) {
	if lim.e != e {
		panic("limiter: limit used with another engine")
	}
	t := e.nanos(now)
	var digest [1 + sha256.Size]byte
	key = canonical(&digest, key)
	h := maphash.Bytes(e.seed, key)
	s := &e.shards[h&e.mask]
	ent, _ := s.acquire(h>>e.shift, key, t)
	if ent.lim == 0 {
		ent.lim = lim.id
	}
	for i := 0; i < lim.n; i++ {
		w := &lim.w[i]
		ahead := int64(u[w.slot])
		if ahead <= 0 {
			continue
		}
		ahead = min(ahead, capMul(w.tol, 65))
		ent.tat[w.slot] = max(ent.tat[w.slot], t+ahead)
	}
	ent.mu.Unlock()
}
