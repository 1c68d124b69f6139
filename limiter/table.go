package limiter

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// entry is one key's state: 128 bytes (two cache lines), no pointers, so the
// garbage collector never scans the chunks.
//
// Locking: mu guards tat, seen, delta and lim. key, klen, hash and used are
// written only with both the shard's mu and the entry's mu held, so either
// lock is enough to read them.
type entry struct {
	mu    sync.Mutex
	tat   [MaxWindows]int64 // theoretical arrival time per slot, engine ns; 0 = full
	seen  int64             // last Take, engine ns
	hash  uint64            // key hash (shard bits shifted out)
	delta uint32            // tokens taken locally since the last Drain
	lim   uint16            // id of the limit last used, 0 = none
	klen  uint8
	used  bool
	key   [keyInline]byte
}

const (
	chunkShift = 6
	chunkSize  = 1 << chunkShift
)

// chunk is a block of entries. Chunks are allocated when first needed and
// never move or go away, so an entry index stays valid for the engine's life.
type chunk [chunkSize]entry

// slotTable is an open-addressing (linear probing) index: 0 = empty, else
// fingerprint<<32 | (entry index + 1). Slots are atomics so lookups can run
// without the shard lock.
type slotTable struct {
	mask uint64
	s    []atomic.Uint64
}

// shard is one part of the key space. It is hand-written rather than a
// map[string]… because (1) a lookup takes no shard-wide lock: only the key's
// own entry is locked, so cores working on different keys write no shared
// cache line and decisions scale with cores; (2) a new key allocates nothing
// once its chunk exists, and nothing in it holds a pointer per key that the
// garbage collector would have to scan.
//
// Lookups probe the current slot table without the shard lock and verify the
// key under the entry's lock; a miss (possibly stale, racing with an insert,
// an eviction or a rehash) is confirmed under the shard lock, which also
// serialises every change of the index.
type shard struct {
	// Read on every decision, written rarely: kept apart from mu.
	slots  atomic.Pointer[slotTable]
	chunks []atomic.Pointer[chunk]
	dirty  []atomic.Uint64 // bitmap: entries with a delta to drain (TrackDeltas)
	_      [64]byte

	mu   sync.Mutex
	n    int      // live entries
	cap  int      // max live entries
	next int      // entries ever allocated (high-water mark)
	hand int      // clock hand for eviction sampling
	free []uint32 // indices of free entries below next

	inserts, evictedIdle, evictedActive uint64
	_                                   [64]byte
}

const minSlots = 16

func (s *shard) init(capacity int, track bool) {
	s.cap = capacity
	nChunks := (capacity + chunkSize - 1) / chunkSize
	s.chunks = make([]atomic.Pointer[chunk], nChunks)
	if track {
		s.dirty = make([]atomic.Uint64, nChunks)
	}
	s.slots.Store(newSlotTable(minSlots))
}

func newSlotTable(size int) *slotTable {
	return &slotTable{mask: uint64(size - 1), s: make([]atomic.Uint64, size)}
}

func fingerprint(h uint64) uint64 { return h >> 32 }

func (s *shard) entry(idx int) *entry {
	return &s.chunks[idx>>chunkShift].Load()[idx&(chunkSize-1)]
}

func (e *entry) is(h uint64, key []byte) bool {
	return e.used && e.hash == h && int(e.klen) == len(key) && string(e.key[:e.klen]) == string(key)
}

// lookup returns key's entry, locked, and its index, without taking the
// shard lock; nil when the key was not found (then ask findLocked).
func (s *shard) lookup(h uint64, key []byte) (*entry, int) {
	t := s.slots.Load()
	fp := fingerprint(h)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		v := t.s[i].Load()
		if v == 0 {
			return nil, -1
		}
		if v>>32 != fp {
			continue
		}
		idx := int(uint32(v)) - 1
		e := s.entry(idx)
		e.mu.Lock()
		if e.is(h, key) {
			return e, idx
		}
		e.mu.Unlock() // another key, or evicted since: keep probing
	}
}

// acquire returns key's entry, locked, creating it (and evicting another key
// when the shard is full) if needed.
func (s *shard) acquire(h uint64, key []byte, now int64) (*entry, int) {
	if e, idx := s.lookup(h, key); e != nil {
		return e, idx
	}
	s.mu.Lock()
	idx := s.findLocked(h, key)
	if idx < 0 {
		idx = s.insertLocked(h, key, now)
	}
	e := s.entry(idx)
	e.mu.Lock() // lock order: shard, then entry
	s.mu.Unlock()
	return e, idx
}

// findLocked returns the index of key's entry, or -1. The shard lock must be held.
func (s *shard) findLocked(h uint64, key []byte) int {
	t := s.slots.Load()
	fp := fingerprint(h)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		v := t.s[i].Load()
		if v == 0 {
			return -1
		}
		if v>>32 == fp {
			idx := int(uint32(v)) - 1
			if s.entry(idx).is(h, key) {
				return idx
			}
		}
	}
}

// insertLocked adds key (known to be absent) and returns its entry index.
// When the shard is full it first evicts a key. The shard lock must be held.
func (s *shard) insertLocked(h uint64, key []byte, now int64) int {
	if s.n >= s.cap {
		s.evictOneLocked(now)
	}
	if t := s.slots.Load(); (s.n+1)*2 > len(t.s) {
		s.rehashLocked(len(t.s) * 2)
	}
	var idx int
	if k := len(s.free); k > 0 {
		idx = int(s.free[k-1])
		s.free = s.free[:k-1]
	} else {
		idx = s.next
		s.next++
		if c := &s.chunks[idx>>chunkShift]; c.Load() == nil {
			c.Store(new(chunk))
		}
	}
	e := s.entry(idx)
	e.mu.Lock()
	e.tat = [MaxWindows]int64{}
	e.seen, e.delta, e.lim = now, 0, 0
	e.hash, e.used, e.klen = h, true, uint8(len(key))
	copy(e.key[:], key)
	e.mu.Unlock()
	s.placeLocked(s.slots.Load(), h, idx) // publish only once the entry is complete
	s.n++
	s.inserts++
	return idx
}

func (s *shard) placeLocked(t *slotTable, h uint64, idx int) {
	i := h & t.mask
	for t.s[i].Load() != 0 {
		i = (i + 1) & t.mask
	}
	t.s[i].Store(fingerprint(h)<<32 | uint64(idx+1))
}

// rehashLocked builds a larger table and publishes it. Readers still probing
// the old one see a consistent, frozen index: entries never move, and a key
// they miss is looked up again under the shard lock.
func (s *shard) rehashLocked(size int) {
	old := s.slots.Load()
	t := newSlotTable(size)
	for i := range old.s {
		if v := old.s[i].Load(); v != 0 {
			idx := int(uint32(v)) - 1
			s.placeLocked(t, s.entry(idx).hash, idx)
		}
	}
	s.slots.Store(t)
}

// removeLocked deletes entry idx (whose lock the caller holds) from the
// index and frees it. The shard lock must be held.
func (s *shard) removeLocked(idx int) {
	t := s.slots.Load()
	e := s.entry(idx)
	want := uint32(idx + 1)
	i := e.hash & t.mask
	for uint32(t.s[i].Load()) != want {
		i = (i + 1) & t.mask
	}
	// Backward-shift deletion: pull later members of the probe run into the
	// hole so that lookups never need tombstones. A lookup racing with this
	// may miss a key and then finds it under the shard lock.
	for {
		t.s[i].Store(0)
		j := i
		for {
			j = (j + 1) & t.mask
			v := t.s[j].Load()
			if v == 0 {
				e.used = false
				e.delta = 0
				s.free = append(s.free, uint32(idx))
				s.n--
				return
			}
			home := s.entry(int(uint32(v))-1).hash & t.mask
			// v may move to i if its home is not cyclically within (i, j].
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				t.s[i].Store(v)
				i = j
				break
			}
		}
	}
}

// idle reports whether forgetting e loses nothing: every bucket is full and
// no local consumption waits for Drain. e's lock must be held.
func (e *entry) idle(now int64) bool {
	if e.delta != 0 {
		return false
	}
	for _, t := range e.tat {
		if t > now {
			return false
		}
	}
	return true
}

// evictSample is how many entries a full shard looks at to choose a victim.
const evictSample = 8

// evictOneLocked frees one entry: the first idle one of a sample, else the
// least recently used of the sample. The shard lock must be held.
func (s *shard) evictOneLocked(now int64) {
	victim, oldest := -1, int64(0)
	for k := 0; k < evictSample || victim < 0; k++ {
		if s.hand >= s.next {
			s.hand = 0
		}
		idx := s.hand
		s.hand++
		e := s.entry(idx)
		if !e.used {
			continue
		}
		e.mu.Lock()
		if e.idle(now) {
			s.removeLocked(idx)
			e.mu.Unlock()
			s.evictedIdle++
			return
		}
		if victim < 0 || e.seen < oldest {
			victim, oldest = idx, e.seen
		}
		e.mu.Unlock()
	}
	e := s.entry(victim)
	e.mu.Lock()
	s.removeLocked(victim)
	e.mu.Unlock()
	s.evictedActive++
}

// markDirty records that entry idx has a delta to drain.
func (s *shard) markDirty(idx int) {
	s.dirty[idx>>6].Or(1 << (idx & 63))
}

// drained is a copy of a dirty entry's delta.
type drained struct {
	key  [keyInline]byte
	klen uint8
	lim  uint16
	n    uint32
}

// drainInto appends and resets the deltas of the shard's dirty entries. It
// needs no shard lock: an entry evicted and reused meanwhile reports its new
// key's consumption, which is just as true.
func (s *shard) drainInto(out []drained) []drained {
	for w := range s.dirty {
		word := s.dirty[w].Swap(0)
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &= word - 1
			e := s.entry(w<<6 | b)
			e.mu.Lock()
			if e.used && e.delta > 0 {
				out = append(out, drained{key: e.key, klen: e.klen, lim: e.lim, n: e.delta})
				e.delta = 0
			}
			e.mu.Unlock()
		}
	}
	return out
}

// sweepLocked evicts the idle entries. The shard lock must be held.
func (s *shard) sweepLocked(now int64) int {
	n := 0
	for idx := 0; idx < s.next; idx++ {
		e := s.entry(idx)
		if !e.used {
			continue
		}
		e.mu.Lock()
		if e.idle(now) {
			s.removeLocked(idx)
			s.evictedIdle++
			n++
		}
		e.mu.Unlock()
	}
	return n
}
