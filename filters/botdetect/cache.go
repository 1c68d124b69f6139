package botdetect

import (
	"hash/maphash"
	"sync/atomic"
)

// uaCache remembers recent Match results by User-Agent, so that the
// browsers and clients that make up most traffic skip the automaton. It is
// direct-mapped: a slot holds the top 56 bits of the UA's hash (seeded at
// random per cache, so collisions cannot be aimed at) and the result in the
// low byte, in one atomic word; readers and writers never lock and a lost
// race only costs a recomputation. It does not allocate.
type uaCache struct {
	seed  maphash.Seed
	mask  uint64
	slots []atomic.Uint64
}

func newUACache(size int) *uaCache {
	if size <= 0 {
		return nil
	}
	n := 1
	for n < size {
		n <<= 1
	}
	return &uaCache{seed: maphash.MakeSeed(), mask: uint64(n - 1), slots: make([]atomic.Uint64, n)}
}

// match returns m.Match(ua, from), from the cache when it can.
func (c *uaCache) match(m *Matcher, ua []byte, from int) int {
	if c == nil {
		return m.Match(ua, from)
	}
	h := maphash.Bytes(c.seed, ua)
	tag := h&^0xff | uint64(from&1)<<7
	slot := &c.slots[h&c.mask]
	if v := slot.Load(); v&^0x7f == tag {
		return int(v&0x7f) - 2
	}
	res := m.Match(ua, from)
	slot.Store(tag | uint64(res+2)) // res+2 ≥ 1: an empty slot never matches
	return res
}
