package blocklist

import (
	"container/heap"
	"errors"
	"fmt"

	"github.com/edgeguard/edgeguard/filters/iprestrict"
)

// Put stores e as is: its CreatedAt and absolute ExpiresAt are kept, so a
// block copied from another gateway node expires there at the same instant.
// It replaces an entry for the same prefix, reports the change to the hooks
// like Add (Op Added), and returns the stored (canonical) entry. An entry
// already expired is not stored; ok is then false.
func (l *List) Put(e Entry) (stored Entry, ok bool, err error) {
	if !e.Prefix.IsValid() {
		return Entry{}, false, errors.New("blocklist: invalid prefix")
	}
	if len(e.Reason) > MaxTextLen || len(e.Source) > MaxTextLen {
		return Entry{}, false, fmt.Errorf("blocklist: reason and source must be at most %d bytes", MaxTextLen)
	}
	e.Prefix = iprestrict.Canonical(e.Prefix)
	e.CreatedAt = e.CreatedAt.UTC()
	if !e.ExpiresAt.IsZero() {
		e.ExpiresAt = e.ExpiresAt.UTC()
	}
	if !e.Active(l.now()) {
		return Entry{}, false, nil
	}

	l.mu.Lock()
	old, existed := l.entries[e.Prefix]
	if !existed && len(l.entries) >= l.max {
		l.mu.Unlock()
		return Entry{}, false, ErrFull
	}
	l.entries[e.Prefix] = e
	if !e.ExpiresAt.IsZero() {
		heap.Push(&l.expiry, expiryItem{at: expiryValue(e), p: e.Prefix})
	}
	s := l.snap.Load()
	l.snap.Store(&snapshot{t: s.t.InsertPersist(e.Prefix, expiryValue(e)), n: len(l.entries)})
	l.dirty = true
	l.mu.Unlock()

	l.poke()
	inc(l.addedTotal)
	ch := Change{Op: Added, Entry: e}
	if existed {
		ch.Replaced = &old
	}
	l.emit(ch)
	return e, true, nil
}

// Entries returns every entry, expired or not (unsorted), for the cluster
// layer's state transfer.
func (l *List) Entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Entry, 0, len(l.entries))
	for _, e := range l.entries {
		out = append(out, e)
	}
	return out
}
