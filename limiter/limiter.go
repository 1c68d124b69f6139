package limiter

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// MaxWindows is the number of bucket slots every key has (second, minute,
// hour, day, month, year in the rate-limiting plugin).
const MaxWindows = 6

// keyInline is the longest key stored as is (an IPv6 address, a UUID);
// longer keys are digested.
const keyInline = 48

// DefaultMaxKeys is the key cap when Config.MaxKeys is 0.
const DefaultMaxKeys = 100_000

// epochBias puts the default epoch this far before the engine's creation so
// that every window's zero state (an arrival time of 0) is "full".
const epochBias = 2 * 366 * 24 * time.Hour

// Config configures an Engine. The zero value is usable.
type Config struct {
	// Shards is the number of independent shards, rounded up to a power of
	// two. 0 means max(64, 4×GOMAXPROCS).
	Shards int
	// MaxKeys caps the number of keys (0: DefaultMaxKeys). It is enforced per
	// shard as ceil(MaxKeys/Shards), so the total can exceed it by less than
	// Shards.
	MaxKeys int
	// Epoch is the origin of the engine's clock; times passed to the engine
	// must not be before it. The zero value means two years before NewEngine.
	Epoch time.Time
	// TrackDeltas records per-key local consumption for Drain (cluster sync).
	TrackDeltas bool
}

// Engine holds the buckets of many keys. It is safe for concurrent use.
type Engine struct {
	seed     maphash.Seed
	mask     uint64
	shift    uint // bits of the hash used to pick the shard
	perShard int
	track    bool
	epoch    time.Time
	shards   []shard

	limMu  sync.Mutex
	limits atomic.Pointer[[]*Limit] // by id; copy on write

	drainMu  sync.Mutex
	drainBuf []drained
}

// NewEngine returns an empty engine.
func NewEngine(cfg Config) *Engine {
	n := cfg.Shards
	if n <= 0 {
		n = max(64, 4*runtime.GOMAXPROCS(0))
	}
	n = 1 << bits.Len(uint(n-1)) // next power of two
	maxKeys := cfg.MaxKeys
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	e := &Engine{
		seed:     maphash.MakeSeed(),
		mask:     uint64(n - 1),
		shift:    uint(bits.TrailingZeros(uint(n))),
		perShard: max(1, (maxKeys+n-1)/n),
		track:    cfg.TrackDeltas,
		epoch:    cfg.Epoch,
		shards:   make([]shard, n),
	}
	if e.epoch.IsZero() {
		e.epoch = time.Now().Add(-epochBias)
	}
	empty := []*Limit{}
	e.limits.Store(&empty)
	for i := range e.shards {
		e.shards[i].init(e.perShard, e.track)
	}
	return e
}

// Shards returns the number of shards.
func (e *Engine) Shards() int { return len(e.shards) }

// MaxKeys returns the effective key cap (per-shard cap × shards).
func (e *Engine) MaxKeys() int { return e.perShard * len(e.shards) }

// nanos converts t to the engine's clock.
func (e *Engine) nanos(t time.Time) int64 {
	d := int64(t.Sub(e.epoch))
	if d < 0 {
		return 0
	}
	return d
}

// Window is one token bucket of a Limit.
type Window struct {
	// Slot (0..MaxWindows-1) is where a key keeps this window's state. Limits
	// applied to the same keys should use the same slot for the same period
	// (the plugin uses 0 second, 1 minute, 2 hour, 3 day, 4 month, 5 year) so
	// that a key moving to another limit keeps its history.
	Slot int
	// Period is the refill period: the bucket gains Limit tokens per Period.
	Period time.Duration
	// Limit is the number of tokens per Period, ≥ 1 and at most one per
	// nanosecond of Period.
	Limit int64
	// Burst is the bucket size; 0 means Limit.
	Burst int64
}

type window struct {
	slot     int
	interval int64 // ns per token, rounded down
	tol      int64 // burst × interval: how far ahead the arrival time may be
	limit    int64
	burst    int64
}

// Limit is a set of windows that are checked together. It is created by
// Engine.NewLimit, belongs to that engine and is immutable.
type Limit struct {
	e    *Engine
	id   uint16
	name string
	n    int
	w    [MaxWindows]window
	spec [MaxWindows]Window
}

// Name returns the name given to NewLimit.
func (l *Limit) Name() string { return l.name }

// Windows returns the windows of l in the order given to NewLimit.
func (l *Limit) Windows() []Window { return l.spec[:l.n:l.n] }

// ErrTooManyLimits is returned when an engine already has 65,535 distinct limits.
var ErrTooManyLimits = errors.New("limiter: too many distinct limits")

// NewLimit registers a limit with the engine. name is free text for the
// sync layer (the plugin uses the tier name). Asking twice for the same name
// and windows returns the same *Limit, so config reloads do not accumulate
// limits.
func (e *Engine) NewLimit(name string, ws ...Window) (*Limit, error) {
	if len(ws) == 0 || len(ws) > MaxWindows {
		return nil, fmt.Errorf("limiter: a limit needs 1 to %d windows, got %d", MaxWindows, len(ws))
	}
	l := &Limit{e: e, name: name, n: len(ws)}
	var used [MaxWindows]bool
	for i, w := range ws {
		if w.Slot < 0 || w.Slot >= MaxWindows {
			return nil, fmt.Errorf("limiter: window %d: slot %d out of range 0..%d", i, w.Slot, MaxWindows-1)
		}
		if used[w.Slot] {
			return nil, fmt.Errorf("limiter: window %d: slot %d used twice", i, w.Slot)
		}
		used[w.Slot] = true
		if w.Period <= 0 {
			return nil, fmt.Errorf("limiter: window %d: period must be > 0", i)
		}
		if w.Limit < 1 || w.Limit > int64(w.Period) {
			return nil, fmt.Errorf("limiter: window %d: limit must be between 1 and %d per %v", i, int64(w.Period), w.Period)
		}
		if w.Burst == 0 {
			w.Burst = w.Limit
		}
		interval := int64(w.Period) / w.Limit
		if w.Burst < 1 || w.Burst > math.MaxInt64/interval/2 {
			return nil, fmt.Errorf("limiter: window %d: burst %d out of range", i, w.Burst)
		}
		l.spec[i] = w
		l.w[i] = window{slot: w.Slot, interval: interval, tol: w.Burst * interval, limit: w.Limit, burst: w.Burst}
	}
	e.limMu.Lock()
	defer e.limMu.Unlock()
	old := *e.limits.Load()
	for _, o := range old {
		if o.name == name && o.n == l.n && o.spec == l.spec {
			return o, nil
		}
	}
	if len(old) >= math.MaxUint16 {
		return nil, ErrTooManyLimits
	}
	l.id = uint16(len(old) + 1) // 0 means "no limit yet"
	next := append(old[:len(old):len(old)], l)
	e.limits.Store(&next)
	return l, nil
}

func (e *Engine) limitByID(id uint16) *Limit {
	ls := *e.limits.Load()
	if id == 0 || int(id) > len(ls) {
		return nil
	}
	return ls[id-1]
}

// WindowState is a window's state after a decision.
type WindowState struct {
	// Limit and Burst are the window's configured figures.
	Limit, Burst int64
	// Remaining is the number of whole tokens left.
	Remaining int64
	// Full is how long until the bucket is full again (0 if it is full).
	Full time.Duration
}

// Decision is the outcome of Take or Peek. A Decision is plain data; reuse
// one to avoid allocations.
type Decision struct {
	// Allowed reports whether the tokens were taken.
	Allowed bool
	// RetryAfter is, when not allowed, how long until the same request would
	// be admitted if nothing else consumed tokens; math.MaxInt64 when it
	// never can (n larger than a bucket). It is 0 when allowed.
	RetryAfter time.Duration
	// N is the number of windows in W, in the order of the Limit.
	N int
	W [MaxWindows]WindowState
}

// Take takes n (≥ 1) tokens for key from every window of lim, or none if any
// window has fewer than n, at time now. It fills d (which may be nil) and
// reports whether the tokens were taken. key is not retained. Take does not
// allocate for a key the engine already holds.
func (e *Engine) Take(d *Decision, key []byte, lim *Limit, n int64, now time.Time) bool {
	if lim.e != e {
		panic("limiter: limit used with another engine")
	}
	if n < 1 {
		n = 1
	}
	t := e.nanos(now)
	var digest [1 + sha256.Size]byte
	key = canonical(&digest, key)
	h := maphash.Bytes(e.seed, key)
	s := &e.shards[h&e.mask]
	ent, idx := s.acquire(h>>e.shift, key, t)
	ok := lim.take(&ent.tat, d, n, t)
	ent.seen = t
	ent.lim = lim.id
	mark := false
	if ok && e.track {
		mark = ent.delta == 0
		ent.delta = satAdd32(ent.delta, n)
	}
	ent.mu.Unlock()
	if mark {
		s.markDirty(idx)
	}
	return ok
}

// Peek fills d with what Take(d, key, lim, n, now) would decide, without
// taking anything or creating the key.
func (e *Engine) Peek(d *Decision, key []byte, lim *Limit, n int64, now time.Time) bool {
	if n < 1 {
		n = 1
	}
	t := e.nanos(now)
	var digest [1 + sha256.Size]byte
	key = canonical(&digest, key)
	h := maphash.Bytes(e.seed, key)
	s := &e.shards[h&e.mask]
	var tat [MaxWindows]int64
	ent, _ := s.lookup(h>>e.shift, key)
	if ent == nil {
		s.mu.Lock()
		if idx := s.findLocked(h>>e.shift, key); idx >= 0 {
			ent = s.entry(idx)
			ent.mu.Lock()
		}
		s.mu.Unlock()
	}
	if ent != nil {
		tat = ent.tat
		ent.mu.Unlock()
	}
	return lim.take(&tat, d, n, t)
}

// take is GCRA over every window, all or nothing.
func (l *Limit) take(tat *[MaxWindows]int64, d *Decision, n, now int64) bool {
	ok := true
	var retry int64
	for i := 0; i < l.n; i++ {
		w := &l.w[i]
		if n > w.burst {
			ok, retry = false, math.MaxInt64
			continue
		}
		next := max(tat[w.slot], now) + n*w.interval
		if over := next - w.tol - now; over > 0 {
			ok = false
			retry = max(retry, over)
		}
	}
	if ok {
		for i := 0; i < l.n; i++ {
			w := &l.w[i]
			tat[w.slot] = max(tat[w.slot], now) + n*w.interval
		}
	}
	if d == nil {
		return ok
	}
	d.Allowed = ok
	d.RetryAfter = time.Duration(retry)
	d.N = l.n
	for i := 0; i < l.n; i++ {
		w := &l.w[i]
		used := max(tat[w.slot]-now, 0)
		d.W[i] = WindowState{
			Limit:     w.limit,
			Burst:     w.burst,
			Remaining: max(w.tol-used, 0) / w.interval,
			Full:      time.Duration(used),
		}
	}
	return ok
}

// ApplyRemote applies n tokens consumed for key on another node to the
// key's buckets of lim, creating the key if needed. It drains buckets down to
// empty at most (remote consumption never creates debt) and does not mark
// the key dirty, so it is not sent back by Drain.
func (e *Engine) ApplyRemote(key []byte, lim *Limit, n int64, now time.Time) {
	e.ApplyRemoteDebt(key, lim, n, now, 0)
}

// Drain calls fn for every key that consumed tokens locally since the last
// Drain, with the limit it last used and the tokens it took, and resets the
// counters. key is valid only during the call. fn runs without engine locks
// held and may call the engine. Drain records nothing unless the engine was
// created with TrackDeltas. Concurrent Drains are serialised.
func (e *Engine) Drain(fn func(key []byte, lim *Limit, n uint32)) {
	e.drainMu.Lock()
	defer e.drainMu.Unlock()
	for i := range e.shards {
		out := e.shards[i].drainInto(e.drainBuf[:0])
		for j := range out {
			dr := &out[j]
			fn(dr.key[:dr.klen], e.limitByID(dr.lim), dr.n)
		}
		e.drainBuf = out
	}
}

// Sweep evicts every idle key (all buckets full, nothing waiting for Drain)
// at time now and returns how many it evicted. Their entries are reused by
// new keys; memory stays at the shards' high-water mark, which the key cap
// bounds. Sweep locks one shard at a time.
func (e *Engine) Sweep(now time.Time) int {
	t := e.nanos(now)
	n := 0
	for i := range e.shards {
		s := &e.shards[i]
		s.mu.Lock()
		n += s.sweepLocked(t)
		s.mu.Unlock()
	}
	return n
}

// Stats are counters of an engine.
type Stats struct {
	// Keys is the number of keys held.
	Keys int
	// Inserts counts new keys; EvictedIdle counts idle keys dropped to make
	// room or by Sweep; EvictedActive counts keys with state dropped because
	// a shard was full.
	Inserts, EvictedIdle, EvictedActive uint64
}

// Stats returns the engine's counters; it locks one shard at a time.
func (e *Engine) Stats() Stats {
	var st Stats
	for i := range e.shards {
		s := &e.shards[i]
		s.mu.Lock()
		st.Keys += s.n
		st.Inserts += s.inserts
		st.EvictedIdle += s.evictedIdle
		st.EvictedActive += s.evictedActive
		s.mu.Unlock()
	}
	return st
}

// canonical returns key, or 0xFF + SHA-256(key) in buf when key is longer
// than keyInline. Hand-written instead of hashing every key because short
// keys (IPs, consumer ids) must stay cheap and readable for the sync layer.
func canonical(buf *[1 + sha256.Size]byte, key []byte) []byte {
	if len(key) <= keyInline {
		return key
	}
	sum := sha256.Sum256(key)
	buf[0] = 0xFF
	copy(buf[1:], sum[:])
	return buf[:]
}

func satAdd32(a uint32, n int64) uint32 {
	s := int64(a) + n
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}
