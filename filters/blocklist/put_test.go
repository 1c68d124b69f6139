package blocklist

import (
	"net/netip"
	"testing"
	"time"
)

func TestPutKeepsAbsoluteTimes(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l, err := Open(Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var changes []Change
	l.OnChange(func(c Change) { changes = append(changes, c) })
	e := Entry{Prefix: netip.MustParsePrefix("::ffff:192.0.2.9/128"), Reason: "r", Source: "admin",
		CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Minute)}
	got, ok, err := l.Put(e)
	if err != nil || !ok || got.Prefix != netip.MustParsePrefix("192.0.2.9/32") || !got.ExpiresAt.Equal(e.ExpiresAt) || !got.CreatedAt.Equal(e.CreatedAt) {
		t.Fatalf("Put: %+v %v %v", got, ok, err)
	}
	if !l.Contains(netip.MustParseAddr("192.0.2.9")) || len(changes) != 1 || changes[0].Op != Added {
		t.Fatalf("not blocked or no hook: %+v", changes)
	}
	// Expired entries are not stored.
	old := Entry{Prefix: netip.MustParsePrefix("192.0.2.10/32"), CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Second)}
	if _, ok, err := l.Put(old); ok || err != nil {
		t.Fatalf("expired entry stored: %v %v", ok, err)
	}
	if n := len(l.Entries()); n != 1 {
		t.Fatalf("Entries: %d", n)
	}
	// It expires at its absolute time.
	now = now.Add(time.Minute)
	if l.Contains(netip.MustParseAddr("192.0.2.9")) {
		t.Fatal("still blocked at ExpiresAt")
	}
	if _, _, err := l.Put(Entry{}); err == nil {
		t.Fatal("invalid prefix accepted")
	}
}
