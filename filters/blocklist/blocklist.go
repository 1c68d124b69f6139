// Package blocklist is edgeguard's dynamic IP blocklist and its automatic
// abuse detector.
//
// A List holds blocked prefixes (single addresses or CIDRs) with an expiry,
// a reason and a source. It is not a plugin: the core checks it for every
// request before routing (List.Access or List.Contains), the admin API adds,
// lists and deletes entries, and the abuse Detector adds entries on its own.
//
// Reads are lock-free: the prefixes live in a persistent prefix table
// (github.com/gaissmai/bart) behind an atomic pointer that writers replace
// on every change, so Contains is one atomic load and one table walk, with
// no allocation. Writers are serialised by a mutex.
//
// Entries expire on time without help: a lookup that finds an entry past its
// expiry ignores it. Run (a background loop the owner starts) also removes
// expired entries, reports them to the change hooks and writes the list to
// its file. The file (JSON, in the data directory) is replaced atomically
// (temporary file, fsync, rename, fsync of the directory) and read back by
// Open; a corrupt file is moved aside as *.corrupt and reported as a warning
// (*CorruptError) while the list starts empty.
package blocklist

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/VictoriaMetrics/metrics"
	"github.com/gaissmai/bart"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/iprestrict"
)

// FileName is the name of the list's file in the data directory.
const FileName = "blocklist.json"

// RejectedBy is what Access records in Ctx.RejectedBy, and ReasonBlocked
// in Ctx.RejectReason.
const (
	RejectedBy    = "blocklist"
	ReasonBlocked = "ip_blocklisted"
)

// Sources used by edgeguard's own callers; any string may be used.
const (
	SourceAdmin = "admin"
	SourceAbuse = "abuse"
)

// Limits on entries.
const (
	DefaultMaxEntries = 100_000
	MaxTextLen        = 1024 // reason and source
)

// ErrFull is returned by Add when the list holds Options.MaxEntries entries.
var ErrFull = errors.New("blocklist: list is full")

// Entry is one blocked prefix.
type Entry struct {
	// Prefix is canonical (masked; IPv4-mapped prefixes as IPv4).
	Prefix    netip.Prefix `json:"prefix"`
	Reason    string       `json:"reason,omitempty"`
	Source    string       `json:"source,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	// ExpiresAt is zero for an entry that never expires.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Active reports whether e blocks at time now.
func (e Entry) Active(now time.Time) bool {
	return e.ExpiresAt.IsZero() || e.ExpiresAt.After(now)
}

// Op is the kind of a Change.
type Op uint8

const (
	// Added: a new entry, or an existing prefix given a new TTL/reason.
	Added Op = iota + 1
	// Removed by Remove (admin DELETE, cluster).
	Removed
	// Expired: removed by the sweeper because its time was up.
	Expired
)

func (o Op) String() string {
	switch o {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Expired:
		return "expired"
	}
	return "unknown"
}

// Change is passed to the hooks registered with OnChange.
type Change struct {
	Op    Op
	Entry Entry
	// Replaced is set when Added overwrote an existing entry (its old form).
	Replaced *Entry
}

// Options configure Open. The zero value is a list without persistence.
type Options struct {
	// Dir is the data directory holding FileName; "" keeps the list in
	// memory only.
	Dir string
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	// MaxEntries caps the number of entries (default DefaultMaxEntries).
	MaxEntries int
	// Metrics, when set, receives edgeguard_blocklist_* metrics.
	Metrics *metrics.Set
	// Logger receives errors of the background loop (default: discard).
	Logger *slog.Logger
}

// never is the table value of entries without expiry.
const never = math.MaxInt64

// snapshot is the read side: replaced whole on every change.
type snapshot struct {
	t *bart.Fast[int64] // prefix → expiry (unix nanoseconds, never = no expiry)
	n int
}

// List is the dynamic blocklist. All methods are safe for concurrent use;
// Contains and Access are lock-free and do not allocate.
type List struct {
	snap atomic.Pointer[snapshot]
	now  func() time.Time

	mu      sync.Mutex // serialises writers; guards the fields below
	entries map[netip.Prefix]Entry
	expiry  expiryHeap
	dirty   bool
	max     int

	saveMu sync.Mutex // serialises file writes
	path   string

	hooks  atomic.Pointer[[]func(Change)]
	wake   chan struct{} // Run: something changed
	logger *slog.Logger

	blockedTotal *metrics.Counter
	addedTotal   *metrics.Counter
	removedTotal *metrics.Counter
	expiredTotal *metrics.Counter
}

// Open creates a list and loads its file from opts.Dir, creating the
// directory when needed. A corrupt file is not fatal: the list starts with
// what could be read (usually nothing), the file is moved aside, and the
// returned error is a *CorruptError to be logged as a warning; l is usable.
// Other errors (the directory or file cannot be read) return a nil list.
func Open(opts Options) (*List, error) {
	l := &List{
		now:     opts.Now,
		entries: map[netip.Prefix]Entry{},
		max:     opts.MaxEntries,
		wake:    make(chan struct{}, 1),
		logger:  opts.Logger,
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.max <= 0 {
		l.max = DefaultMaxEntries
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	l.snap.Store(&snapshot{t: new(bart.Fast[int64])})
	if m := opts.Metrics; m != nil {
		l.blockedTotal = m.GetOrCreateCounter(`edgeguard_blocklist_rejected_total`)
		l.addedTotal = m.GetOrCreateCounter(`edgeguard_blocklist_changes_total{op="added"}`)
		l.removedTotal = m.GetOrCreateCounter(`edgeguard_blocklist_changes_total{op="removed"}`)
		l.expiredTotal = m.GetOrCreateCounter(`edgeguard_blocklist_changes_total{op="expired"}`)
		m.GetOrCreateGauge(`edgeguard_blocklist_entries`, func() float64 { return float64(l.Len()) })
	}
	if opts.Dir == "" {
		return l, nil
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("blocklist: cannot create data directory: %w", err)
	}
	l.path = filepath.Join(opts.Dir, FileName)
	warn, err := l.load()
	if err != nil {
		return nil, err
	}
	if warn != nil {
		return l, warn
	}
	return l, nil
}

// Contains reports whether addr is blocked now. An IPv4-mapped address is
// looked up as IPv4. It is lock-free and does not allocate; the clock is
// read only when addr is inside some entry.
func (l *List) Contains(addr netip.Addr) bool {
	s := l.snap.Load()
	if s.n == 0 {
		return false
	}
	addr = addr.Unmap()
	exp, ok := s.t.Lookup(addr)
	if !ok {
		return false
	}
	if exp == never {
		return true
	}
	now := l.now().UnixNano()
	if exp > now {
		return true
	}
	// The most specific entry has expired but was not swept yet; a wider
	// one may still be active.
	for _, e := range s.t.Supernets(netip.PrefixFrom(addr, addr.BitLen())) {
		if e > now {
			return true
		}
	}
	return false
}

// Lookup returns the active entry that blocks addr (the most specific one),
// for the admin API and logs.
func (l *List) Lookup(addr netip.Addr) (Entry, bool) {
	addr = addr.Unmap()
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range l.snap.Load().t.Supernets(netip.PrefixFrom(addr, addr.BitLen())) {
		if e, ok := l.entries[p]; ok && e.Active(now) {
			return e, true
		}
	}
	return Entry{}, false
}

// Access is the pre-routing check: it rejects a blocked client with 403 and
// Kong's ip-restriction body {"message":"IP address not allowed: <ip>"}
// (the same answer as a deny entry, so a blocked client learns nothing
// more), and records RejectedBy "blocklist". It does not allocate.
func (l *List) Access(c *filters.Ctx) filters.Verdict {
	if !l.Contains(c.ClientIP) {
		return filters.Continue
	}
	if l.blockedTotal != nil {
		l.blockedTotal.Inc()
	}
	var buf [96]byte
	msg := append(buf[:0], iprestrict.DefaultMessagePrefix...)
	msg = c.ClientIP.Unmap().AppendTo(msg)
	// msg only needs to live during Reject, which copies it into the body.
	v := c.Reject(iprestrict.DefaultStatus, ReasonBlocked, unsafe.String(unsafe.SliceData(msg), len(msg)))
	c.RejectedBy = RejectedBy
	return v
}

// Add blocks prefix for ttl (0: until removed; otherwise from MinTTL to
// MaxTTL), replacing an entry for the same prefix. The change is visible to Contains when Add returns; it is
// written to the file by Run (or Flush). A single address may be given as
// a /32 or /128 prefix; the prefix is made canonical first.
func (l *List) Add(prefix netip.Prefix, ttl time.Duration, reason, source string) (Entry, error) {
	if !prefix.IsValid() {
		return Entry{}, errors.New("blocklist: invalid prefix")
	}
	if ttl != 0 {
		if err := checkTTL(ttl); err != nil {
			return Entry{}, fmt.Errorf("blocklist: ttl %s %w", ttl, err)
		}
	}
	if len(reason) > MaxTextLen || len(source) > MaxTextLen {
		return Entry{}, fmt.Errorf("blocklist: reason and source must be at most %d bytes", MaxTextLen)
	}
	prefix = iprestrict.Canonical(prefix)
	now := l.now()
	e := Entry{Prefix: prefix, Reason: reason, Source: source, CreatedAt: now.UTC()}
	if ttl > 0 {
		e.ExpiresAt = now.Add(ttl).UTC()
	}

	l.mu.Lock()
	old, existed := l.entries[prefix]
	if !existed && len(l.entries) >= l.max {
		l.mu.Unlock()
		return Entry{}, ErrFull
	}
	l.entries[prefix] = e
	if !e.ExpiresAt.IsZero() {
		heap.Push(&l.expiry, expiryItem{at: expiryValue(e), p: prefix})
	}
	s := l.snap.Load()
	l.snap.Store(&snapshot{t: s.t.InsertPersist(prefix, expiryValue(e)), n: len(l.entries)})
	l.dirty = true
	l.mu.Unlock()

	l.poke()
	inc(l.addedTotal)
	ch := Change{Op: Added, Entry: e}
	if existed {
		ch.Replaced = &old
	}
	l.emit(ch)
	return e, nil
}

// Remove deletes the entry for exactly prefix (canonicalised) and returns
// it. It does not remove wider or narrower entries.
func (l *List) Remove(prefix netip.Prefix) (Entry, bool) {
	if !prefix.IsValid() {
		return Entry{}, false
	}
	prefix = iprestrict.Canonical(prefix)
	l.mu.Lock()
	e, ok := l.entries[prefix]
	if !ok {
		l.mu.Unlock()
		return Entry{}, false
	}
	delete(l.entries, prefix)
	s := l.snap.Load()
	l.snap.Store(&snapshot{t: s.t.DeletePersist(prefix), n: len(l.entries)})
	l.dirty = true
	l.mu.Unlock()

	l.poke()
	inc(l.removedTotal)
	l.emit(Change{Op: Removed, Entry: e})
	return e, true
}

// Get returns the entry for exactly prefix (canonicalised), expired or not.
func (l *List) Get(prefix netip.Prefix) (Entry, bool) {
	prefix = iprestrict.Canonical(prefix)
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[prefix]
	return e, ok
}

// List returns the active entries sorted by prefix (IPv4 first).
func (l *List) List() []Entry {
	now := l.now()
	l.mu.Lock()
	out := make([]Entry, 0, len(l.entries))
	for _, e := range l.entries {
		if e.Active(now) {
			out = append(out, e)
		}
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b Entry) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out
}

// Len returns the number of entries, including expired ones not yet swept.
func (l *List) Len() int { return l.snap.Load().n }

// OnChange registers fn to be called after every change (add, remove,
// expiry), for the cluster layer and the audit log. Hooks run on the
// goroutine that made the change, after the list was updated and without
// its lock held; they must not block. Changes made concurrently may reach
// a hook in either order.
func (l *List) OnChange(fn func(Change)) {
	for {
		old := l.hooks.Load()
		var next []func(Change)
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, fn)
		if l.hooks.CompareAndSwap(old, &next) {
			return
		}
	}
}

func (l *List) emit(c Change) {
	if hs := l.hooks.Load(); hs != nil {
		for _, h := range *hs {
			h(c)
		}
	}
}

// Sweep removes the entries that have expired by now, reports them to the
// hooks and returns how many it removed. Run calls it on time; tests with
// a fake clock call it directly.
func (l *List) Sweep() int {
	now := l.now()
	nowN := now.UnixNano()
	var gone []Entry
	l.mu.Lock()
	s := l.snap.Load()
	t := s.t
	for len(l.expiry) > 0 && l.expiry[0].at <= nowN {
		it := heap.Pop(&l.expiry).(expiryItem)
		e, ok := l.entries[it.p]
		if !ok || e.ExpiresAt.IsZero() || expiryValue(e) != it.at {
			continue // removed or replaced since
		}
		delete(l.entries, it.p)
		t = t.DeletePersist(it.p)
		gone = append(gone, e)
	}
	if len(gone) > 0 {
		l.snap.Store(&snapshot{t: t, n: len(l.entries)})
		l.dirty = true
	}
	l.mu.Unlock()

	if len(gone) > 0 {
		l.poke()
	}
	for _, e := range gone {
		inc(l.expiredTotal)
		l.emit(Change{Op: Expired, Entry: e})
	}
	return len(gone)
}

// nextExpiry returns when the next entry expires (zero: none).
func (l *List) nextExpiry() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.expiry) == 0 {
		return time.Time{}
	}
	return time.Unix(0, l.expiry[0].at)
}

// Run sweeps expired entries on time and writes changes to the file until
// ctx is done; then it writes pending changes once more and returns. Start
// it once per List (go l.Run(ctx)). Without Run, lookups still honour
// expiry but nothing is written unless Flush is called.
func (l *List) Run(ctx context.Context) {
	const maxSleep = time.Minute
	timer := time.NewTimer(maxSleep)
	defer timer.Stop()
	for {
		l.Sweep()
		if err := l.Flush(); err != nil {
			l.logger.Error("blocklist: cannot save", "path", l.path, "err", err)
		}
		wait := maxSleep
		if next := l.nextExpiry(); !next.IsZero() {
			// The sleep is on the wall clock; an injected clock is
			// for Sweep and lookups only.
			wait = min(maxSleep, max(time.Until(next), 10*time.Millisecond))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			if err := l.Flush(); err != nil {
				l.logger.Error("blocklist: cannot save", "path", l.path, "err", err)
			}
			return
		case <-timer.C:
		case <-l.wake:
		}
	}
}

// poke tells Run that something changed.
func (l *List) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// expiryValue is e's expiry in unix nanoseconds as stored in the table and
// the heap: never for no expiry, and clamped below never for dates past
// what int64 nanoseconds can hold (year 2262).
func expiryValue(e Entry) int64 {
	if e.ExpiresAt.IsZero() {
		return never
	}
	if e.ExpiresAt.After(maxTime) {
		return never - 1
	}
	if e.ExpiresAt.Before(minTime) {
		return math.MinInt64
	}
	return e.ExpiresAt.UnixNano()
}

var (
	maxTime = time.Unix(0, never-1)
	minTime = time.Unix(0, math.MinInt64)
)

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

func inc(c *metrics.Counter) {
	if c != nil {
		c.Inc()
	}
}

// expiryHeap orders entries by expiry; stale items (entry replaced or
// removed) are skipped when popped.
type expiryItem struct {
	at int64
	p  netip.Prefix
}

type expiryHeap []expiryItem

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryItem)) }
func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

var _ filters.Filter = (*List)(nil)
