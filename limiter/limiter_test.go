package limiter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
)

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

func newTestEngine(tb testing.TB, cfg Config) *Engine {
	tb.Helper()
	if cfg.Epoch.IsZero() {
		cfg.Epoch = t0.Add(-epochBias)
	}
	return NewEngine(cfg)
}

func mustLimit(tb testing.TB, e *Engine, ws ...Window) *Limit {
	tb.Helper()
	l, err := e.NewLimit("t", ws...)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func TestNewLimitErrors(t *testing.T) {
	e := newTestEngine(t, Config{})
	bad := [][]Window{
		nil,
		{{Slot: 0, Period: time.Second, Limit: 0}},
		{{Slot: 0, Period: 0, Limit: 1}},
		{{Slot: 6, Period: time.Second, Limit: 1}},
		{{Slot: 0, Period: time.Second, Limit: 1}, {Slot: 0, Period: time.Minute, Limit: 1}},
		{{Slot: 0, Period: time.Second, Limit: 2e9}},
		{{Slot: 0, Period: time.Second, Limit: 1, Burst: -1}},
		make([]Window, 7),
	}
	for i, ws := range bad {
		if _, err := e.NewLimit("x", ws...); err == nil {
			t.Errorf("case %d: want error", i)
		}
	}
	a := mustLimit(t, e, Window{Slot: 1, Period: time.Minute, Limit: 5})
	b := mustLimit(t, e, Window{Slot: 1, Period: time.Minute, Limit: 5})
	if a != b {
		t.Error("identical limits must be deduplicated")
	}
	if c := mustLimit(t, e, Window{Slot: 1, Period: time.Minute, Limit: 6}); c == a {
		t.Error("different limits must differ")
	}
}

func TestTakeBurstRemainingRetry(t *testing.T) {
	e := newTestEngine(t, Config{})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Second, Limit: 10}, Window{Slot: 1, Period: time.Minute, Limit: 100})
	key := []byte("client")
	var d Decision
	for i := 0; i < 10; i++ {
		if !e.Take(&d, key, l, 1, t0) {
			t.Fatalf("request %d rejected", i)
		}
		if d.W[0].Remaining != int64(9-i) || d.W[1].Remaining != int64(99-i) {
			t.Fatalf("request %d: remaining %d/%d", i, d.W[0].Remaining, d.W[1].Remaining)
		}
	}
	if e.Take(&d, key, l, 1, t0) {
		t.Fatal("11th request in the same instant admitted")
	}
	if d.RetryAfter != 100*time.Millisecond {
		t.Fatalf("retry after %v, want 100ms", d.RetryAfter)
	}
	if d.W[0].Full != time.Second || d.W[1].Remaining != 90 {
		t.Fatalf("state after reject: full %v, minute remaining %d", d.W[0].Full, d.W[1].Remaining)
	}
	// One nanosecond early: still rejected; exactly at RetryAfter: admitted.
	if e.Take(&d, key, l, 1, t0.Add(100*time.Millisecond-1)) {
		t.Fatal("admitted before Retry-After")
	}
	if !e.Take(&d, key, l, 1, t0.Add(100*time.Millisecond)) {
		t.Fatal("rejected at Retry-After")
	}
}

func TestMultiWindowAllOrNothing(t *testing.T) {
	e := newTestEngine(t, Config{})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Second, Limit: 10}, Window{Slot: 1, Period: time.Minute, Limit: 15})
	key := []byte("k")
	var d Decision
	admitted := 0
	for s := 0; s < 5; s++ {
		for i := 0; i < 10; i++ {
			if e.Take(&d, key, l, 1, t0.Add(time.Duration(s)*time.Second)) {
				admitted++
			}
		}
	}
	// 10 in second 0, then the minute bucket has 5 tokens plus 4 s × 0.25/s = 1 refilled.
	if admitted != 16 {
		t.Fatalf("admitted %d, want 16", admitted)
	}
	// Rejections by the minute window must not have consumed second tokens.
	if d.W[0].Remaining < 9 {
		t.Fatalf("second window consumed by rejected requests: remaining %d", d.W[0].Remaining)
	}
	if d.RetryAfter <= 0 || d.RetryAfter > 4*time.Second {
		t.Fatalf("retry after %v", d.RetryAfter)
	}
}

// conforming returns a random request schedule with at most limit requests
// in any interval of length period (closed on the left, open on the right).
func conforming(r *rand.Rand, limit int, period time.Duration, total time.Duration) []time.Duration {
	var out []time.Duration
	t := time.Duration(0)
	for t < total {
		switch r.IntN(4) {
		case 0: // a burst at one instant
		default:
			t += time.Duration(r.Int64N(int64(period) / int64(limit) * 3))
		}
		// Admit t only if the last `limit` requests include none within (t-period, t].
		if len(out) >= limit && out[len(out)-limit] > t-period {
			t = out[len(out)-limit] + period
		}
		out = append(out, t)
	}
	return out
}

func TestNeverRejectUnderLimit(t *testing.T) {
	cases := []struct {
		limit  int
		period time.Duration
	}{
		{1, time.Second}, {3, time.Second}, {10, time.Second}, {7, time.Minute},
		{100, time.Minute}, {7, time.Hour}, {1000, time.Hour}, {13, 24 * time.Hour},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		for trial := 0; trial < 20; trial++ {
			e := newTestEngine(t, Config{Shards: 1})
			l := mustLimit(t, e, Window{Slot: 0, Period: c.period, Limit: int64(c.limit)})
			sched := conforming(r, c.limit, c.period, 12*c.period)
			for i, at := range sched {
				if !e.Take(nil, []byte("k"), l, 1, t0.Add(at)) {
					t.Fatalf("limit %d/%v trial %d: request %d at %v rejected", c.limit, c.period, trial, i, at)
				}
			}
		}
	}
}

func TestNeverRejectUnderLimitMultiWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	e := newTestEngine(t, Config{Shards: 1})
	l := mustLimit(t, e,
		Window{Slot: 0, Period: time.Second, Limit: 5},
		Window{Slot: 1, Period: time.Minute, Limit: 100},
		Window{Slot: 2, Period: time.Hour, Limit: 1000})
	// 4/s for 20 s is within the second and minute windows (80 ≤ 100).
	sched := conforming(r, 4, time.Second, 20*time.Second)
	for i, at := range sched {
		if !e.Take(nil, []byte("k"), l, 1, t0.Add(at)) {
			t.Fatalf("request %d at %v rejected", i, at)
		}
	}
}

func TestOverLimitAccuracy(t *testing.T) {
	cases := []struct {
		limit  int64
		period time.Duration
	}{
		{10, time.Second}, {100, time.Minute}, {7, time.Hour}, {1000, time.Hour}, {50, 24 * time.Hour}, {3, time.Second},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d_per_%v", c.limit, c.period), func(t *testing.T) {
			e := newTestEngine(t, Config{Shards: 1})
			l := mustLimit(t, e, Window{Slot: 0, Period: c.period, Limit: c.limit})
			total := 10 * c.period
			sent := 5 * c.limit * 10
			step := total / time.Duration(sent)
			admitted := int64(0)
			for i := int64(0); i < sent; i++ {
				if e.Take(nil, []byte("k"), l, 1, t0.Add(time.Duration(i)*step)) {
					admitted++
				}
			}
			bound := c.limit*10 + c.limit // + one burst
			if float64(admitted) > float64(bound)*1.01 {
				t.Fatalf("admitted %d of %d, bound %d (+1%%)", admitted, sent, bound)
			}
			if float64(admitted) < float64(bound)*0.99-1 {
				t.Fatalf("admitted %d, want about %d: limiter too strict", admitted, bound)
			}
		})
	}
}

func TestConcurrentNoOvershoot(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 4})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Second, Limit: 100}, Window{Slot: 1, Period: time.Minute, Limit: 1000})
	const goroutines, per = 8, 500
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := map[string]int{}
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var d Decision
			local := map[string]int{}
			for i := 0; i < per; i++ {
				key := fmt.Sprintf("key-%d", i%4)
				// All goroutines share one instant: exactly Burst may pass per key.
				if e.Take(&d, []byte(key), l, 1, t0) {
					local[key]++
				}
			}
			mu.Lock()
			for k, v := range local {
				admitted[k] += v
			}
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	for k, v := range admitted {
		if v != 100 {
			t.Errorf("%s: admitted %d, want exactly 100", k, v)
		}
	}
	if len(admitted) != 4 {
		t.Fatalf("keys: %v", admitted)
	}
}

func TestConcurrentTrackDeltasAndSweep(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 2, MaxKeys: 256, TrackDeltas: true})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Second, Limit: 1000})
	var wg sync.WaitGroup
	var total, drained int64
	var mu sync.Mutex
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			n := int64(0)
			for i := 0; i < 2000; i++ {
				key := []byte(fmt.Sprintf("k%d", (i*7+g)%50))
				if e.Take(nil, key, l, 1, t0.Add(time.Duration(i)*time.Millisecond)) {
					n++
				}
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}(g)
	}
	var dw sync.WaitGroup
	dw.Add(1)
	go func() {
		defer dw.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			e.Drain(func(key []byte, lim *Limit, n uint32) {
				if lim != l {
					t.Errorf("drained limit %v", lim)
				}
				mu.Lock()
				drained += int64(n)
				mu.Unlock()
			})
			e.Sweep(t0)
			runtime.Gosched()
		}
	}()
	wg.Wait()
	close(stop)
	dw.Wait()
	e.Drain(func(key []byte, lim *Limit, n uint32) { drained += int64(n) })
	if drained != total {
		t.Fatalf("drained %d tokens, admitted %d", drained, total)
	}
}

func TestIdleEvictionOnInsert(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 1, MaxKeys: 100})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Second, Limit: 5})
	for i := 0; i < 100; i++ {
		e.Take(nil, []byte(fmt.Sprintf("old-%d", i)), l, 1, t0)
	}
	if st := e.Stats(); st.Keys != 100 {
		t.Fatalf("keys %d", st.Keys)
	}
	// One second later every old bucket is full again: new keys evict them
	// as idle, never as active.
	for i := 0; i < 100; i++ {
		e.Take(nil, []byte(fmt.Sprintf("new-%d", i)), l, 1, t0.Add(time.Second))
	}
	st := e.Stats()
	if st.Keys != 100 || st.EvictedIdle != 100 || st.EvictedActive != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestActiveEvictionPrefersLRU(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 1, MaxKeys: 8})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Hour, Limit: 1})
	for i := 0; i < 8; i++ {
		e.Take(nil, []byte{byte(i)}, l, 1, t0.Add(time.Duration(i)*time.Second))
	}
	e.Take(nil, []byte{100}, l, 1, t0.Add(time.Minute))
	// Key 0 was the least recently used: it lost its state (fresh bucket), key 7 kept it.
	var d Decision
	if !e.Peek(&d, []byte{0}, l, 1, t0.Add(time.Minute)) {
		t.Fatal("evicted LRU key should be fresh")
	}
	if e.Peek(&d, []byte{7}, l, 1, t0.Add(time.Minute)) {
		t.Fatal("recent key lost its state")
	}
	if st := e.Stats(); st.EvictedActive != 1 || st.Keys != 8 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFloodIsBounded(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 8, MaxKeys: 4096})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Minute, Limit: 10})
	r := rand.New(rand.NewPCG(5, 6))
	var key [16]byte
	flood := func(n int) {
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint64(key[:8], r.Uint64())
			binary.LittleEndian.PutUint64(key[8:], r.Uint64())
			e.Take(nil, key[:], l, 1, t0)
		}
	}
	flood(4096 * 4)
	runtime.GC()
	var m1, m2 runtime.MemStats
	runtime.ReadMemStats(&m1)
	flood(4096 * 20)
	runtime.GC()
	runtime.ReadMemStats(&m2)
	st := e.Stats()
	if st.Keys > e.MaxKeys() {
		t.Fatalf("keys %d over cap %d", st.Keys, e.MaxKeys())
	}
	if grow := int64(m2.HeapAlloc) - int64(m1.HeapAlloc); grow > 256<<10 {
		t.Fatalf("heap grew %d bytes under a flood at the cap", grow)
	}
	if st.EvictedActive < 4096*20 {
		t.Fatalf("evictions %d", st.EvictedActive)
	}
}

func TestSweepEvictsIdleAndReuses(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 2, MaxKeys: 20000})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Second, Limit: 5})
	for i := 0; i < 10000; i++ {
		e.Take(nil, []byte(fmt.Sprintf("k%d", i)), l, 1, t0)
	}
	keep := []byte("k1")
	e.Take(nil, keep, l, 1, t0.Add(900*time.Millisecond))
	if n := e.Sweep(t0.Add(100 * time.Millisecond)); n != 0 {
		t.Fatalf("swept %d non-idle keys", n)
	}
	if n := e.Sweep(t0.Add(time.Second)); n != 9999 {
		t.Fatalf("swept %d, want 9999", n)
	}
	if st := e.Stats(); st.Keys != 1 || st.EvictedIdle != 9999 {
		t.Fatalf("stats after sweep %+v", st)
	}
	// The freed entries are reused: a shard allocates a new entry only when
	// its live keys exceed its earlier high-water mark.
	var high [2]int
	for i := range high {
		high[i] = e.shards[i].next
	}
	for i := 0; i < 9999; i++ {
		e.Take(nil, []byte(fmt.Sprintf("n%d", i)), l, 1, t0.Add(time.Second))
	}
	for i := range high {
		s := &e.shards[i]
		if want := max(high[i], s.n); s.next != want {
			t.Fatalf("shard %d: %d entries allocated, want max(high-water %d, live %d)", i, s.next, high[i], s.n)
		}
	}
	var d Decision
	e.Peek(&d, keep, l, 1, t0.Add(time.Second))
	if d.W[0].Remaining != 3 { // 4.5 tokens left, minus the one Peek pretends to take
		t.Fatalf("kept key lost its state: remaining %d", d.W[0].Remaining)
	}
}

func TestLongKeysAreDigested(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 1})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Hour, Limit: 1})
	a := bytes.Repeat([]byte("a"), 200)
	b := append(bytes.Repeat([]byte("a"), 199), 'b')
	if !e.Take(nil, a, l, 1, t0) || !e.Take(nil, b, l, 1, t0) {
		t.Fatal("distinct long keys must not share a bucket")
	}
	if e.Take(nil, a, l, 1, t0) {
		t.Fatal("long key state lost")
	}
}

func TestDrainAndApplyRemote(t *testing.T) {
	e := newTestEngine(t, Config{TrackDeltas: true})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Second, Limit: 10}, Window{Slot: 1, Period: time.Minute, Limit: 100})
	for i := 0; i < 3; i++ {
		e.Take(nil, []byte("a"), l, 1, t0)
	}
	e.Take(nil, []byte("b"), l, 2, t0)
	e.Take(nil, []byte("c"), l, 20, t0) // rejected: counts nothing
	got := map[string]uint32{}
	e.Drain(func(key []byte, lim *Limit, n uint32) {
		if lim != l {
			t.Errorf("limit %p", lim)
		}
		got[string(key)] = n
	})
	if len(got) != 2 || got["a"] != 3 || got["b"] != 2 {
		t.Fatalf("drained %v", got)
	}
	e.Drain(func(key []byte, lim *Limit, n uint32) { t.Errorf("second drain got %q", key) })

	// Remote consumption: 5 tokens of "a" on another node leave 2 (Peek
	// reports the state after taking one more).
	e.ApplyRemote([]byte("a"), l, 5, t0)
	var d Decision
	e.Peek(&d, []byte("a"), l, 1, t0)
	if d.W[0].Remaining != 1 || d.W[1].Remaining != 91 {
		t.Fatalf("after remote: %+v", d.W[:2])
	}
	// Remote consumption drains to empty but creates no debt.
	e.ApplyRemote([]byte("a"), l, 1000, t0)
	e.Peek(&d, []byte("a"), l, 1, t0)
	if d.W[0].Remaining != 0 || d.RetryAfter != 600*time.Millisecond { // the minute window, emptied, needs 0.6 s
		t.Fatalf("after big remote: remaining %d retry %v", d.W[0].Remaining, d.RetryAfter)
	}
	// Remote on an unknown key creates it; nothing is echoed by Drain.
	e.ApplyRemote([]byte("new"), l, 4, t0)
	e.Peek(&d, []byte("new"), l, 1, t0)
	if d.W[0].Remaining != 5 {
		t.Fatalf("remote on new key: %d", d.W[0].Remaining)
	}
	e.Drain(func(key []byte, lim *Limit, n uint32) { t.Errorf("remote consumption echoed: %q", key) })
}

func TestDeltaSaturates(t *testing.T) {
	if satAdd32(math.MaxUint32-1, 5) != math.MaxUint32 || satAdd32(1, 2) != 3 {
		t.Fatal("satAdd32")
	}
}

func TestTakeNeverAllocates(t *testing.T) {
	e := newTestEngine(t, Config{TrackDeltas: true})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Second, Limit: 1e6}, Window{Slot: 2, Period: time.Hour, Limit: 1e8})
	key := []byte("203.0.113.7")
	long := bytes.Repeat([]byte("x"), 100)
	var d Decision
	e.Take(&d, key, l, 1, t0)
	e.Take(&d, long, l, 1, t0)
	now := t0
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Microsecond)
		e.Take(&d, key, l, 1, now)
		e.Take(&d, long, l, 1, now)
		e.Peek(&d, key, l, 1, now)
	})
	if allocs != 0 {
		t.Fatalf("Take allocates %.1f times per call", allocs)
	}
}

// TestBytesPerKey measures the memory of one key at the cap and states the
// figure the README quotes.
func TestBytesPerKey(t *testing.T) {
	const keys = 200_000
	runtime.GC()
	var m1, m2 runtime.MemStats
	runtime.ReadMemStats(&m1)
	e := newTestEngine(t, Config{MaxKeys: keys})
	l := mustLimit(t, e, Window{Slot: 1, Period: time.Minute, Limit: 100})
	var key [16]byte
	for i := 0; i < keys; i++ {
		key[0], key[1], key[2] = byte(i), byte(i>>8), byte(i>>16)
		e.Take(nil, key[:], l, 1, t0)
	}
	runtime.GC()
	runtime.ReadMemStats(&m2)
	st := e.Stats()
	per := float64(m2.HeapAlloc-m1.HeapAlloc) / float64(st.Keys)
	t.Logf("%d keys: %.0f bytes per key (entry %d B + index)", st.Keys, per, unsafe.Sizeof(entry{}))
	if unsafe.Sizeof(entry{}) != 128 {
		t.Errorf("entry is %d bytes, want 128", unsafe.Sizeof(entry{}))
	}
	if per > 300 {
		t.Fatalf("%.0f bytes per key", per)
	}
	runtime.KeepAlive(e)
}

// FuzzTable drives the shard table with a sequence of operations and checks
// it against a map.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 1, 2, 0x81, 0x82, 5, 6, 7})
	f.Add(bytes.Repeat([]byte{1, 0x81}, 40))
	f.Add([]byte{0xff, 0xfe, 0x80, 0x01, 0x7f, 0x00})
	f.Fuzz(func(t *testing.T, ops []byte) {
		e := newTestEngine(t, Config{Shards: 1, MaxKeys: 1 << 20})
		s := &e.shards[0]
		ref := map[string]int{}
		for _, op := range ops {
			key := []byte{op & 0x3f, 'k'}
			h := hashFor(e, key)
			idx := s.findLocked(h, key)
			want, ok := ref[string(key)]
			if ok != (idx >= 0) || (ok && idx != want) {
				t.Fatalf("find %q: got %d, want %d/%v", key, idx, want, ok)
			}
			if ent, li := s.lookup(h, key); ok != (ent != nil) || (ok && li != want) {
				t.Fatalf("lookup %q: got %d, want %d/%v", key, li, want, ok)
			} else if ent != nil {
				ent.mu.Unlock()
			}
			switch {
			case op&0x80 == 0 && !ok:
				ref[string(key)] = s.insertLocked(h, key, 0)
			case op&0x80 != 0 && ok:
				ent := s.entry(idx)
				ent.mu.Lock()
				s.removeLocked(idx)
				ent.mu.Unlock()
				delete(ref, string(key))
			}
			if s.n != len(ref) {
				t.Fatalf("n %d, want %d", s.n, len(ref))
			}
		}
		for k, idx := range ref {
			if got := s.findLocked(hashFor(e, []byte(k)), []byte(k)); got != idx {
				t.Fatalf("final find %q: %d want %d", k, got, idx)
			}
		}
	})
}

// hashFor is a deliberately weak hash (3 bits) for the fuzz test, so that
// probe runs are long and wrap around the table.
func hashFor(e *Engine, key []byte) uint64 {
	return uint64(key[0]*37) & 0x7 // collisions on purpose
}

// TestConcurrentChurn races lock-free lookups with inserts, evictions
// (a cap far below the number of keys), rehashes, sweeps and drains, then
// checks that the index is consistent.
func TestConcurrentChurn(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 2, MaxKeys: 64, TrackDeltas: true})
	l := mustLimit(t, e, Window{Slot: 0, Period: time.Second, Limit: 3})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			var d Decision
			for i := 0; i < 5000; i++ {
				key := []byte(fmt.Sprintf("key-%d", r.IntN(300)))
				now := t0.Add(time.Duration(i) * time.Millisecond)
				switch r.IntN(10) {
				case 0:
					e.Peek(&d, key, l, 1, now)
				case 1:
					e.ApplyRemote(key, l, 1, now)
				default:
					e.Take(&d, key, l, 1, now)
				}
			}
		}(g)
	}
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e.Drain(func([]byte, *Limit, uint32) {})
			e.Sweep(t0.Add(time.Duration(i) * time.Millisecond))
			e.Stats()
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	for i := range e.shards {
		checkShard(t, &e.shards[i])
	}
	if st := e.Stats(); st.Keys > e.MaxKeys() || st.EvictedActive == 0 {
		t.Fatalf("stats %+v (cap %d)", st, e.MaxKeys())
	}
}

// checkShard verifies the index: every slot points to a live entry that
// findLocked finds there, and every live entry has a slot.
func checkShard(t *testing.T, s *shard) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	tbl := s.slots.Load()
	slots := 0
	for i := range tbl.s {
		v := tbl.s[i].Load()
		if v == 0 {
			continue
		}
		slots++
		idx := int(uint32(v)) - 1
		ent := s.entry(idx)
		if !ent.used {
			t.Fatalf("slot %d points to free entry %d", i, idx)
		}
		if got := s.findLocked(ent.hash, ent.key[:ent.klen]); got != idx {
			t.Fatalf("entry %d not found by its key (got %d)", idx, got)
		}
	}
	used := 0
	for idx := 0; idx < s.next; idx++ {
		if s.entry(idx).used {
			used++
		}
	}
	if slots != used || used != s.n || s.n > s.cap {
		t.Fatalf("slots %d, used %d, n %d, cap %d", slots, used, s.n, s.cap)
	}
}
