package cluster

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters/blocklist"
)

func newList(t *testing.T) *blocklist.List {
	l, err := blocklist.Open(blocklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestBlocklistPropagation(t *testing.T) {
	h := &harness{t: t, sync: 100 * time.Millisecond}
	ns := h.cluster(3, false)
	lists := make([]*blocklist.List, 3)
	for i, n := range ns {
		lists[i] = newList(t)
		n.AttachBlocklist(lists[i])
	}
	ip := netip.MustParseAddr("203.0.113.7")
	e, err := lists[0].Add(netip.PrefixFrom(ip, 32), 2*time.Second, "scanner", blocklist.SourceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, time.Second, "the block to reach every node", func() bool {
		return lists[1].Contains(ip) && lists[2].Contains(ip)
	})
	t.Logf("block propagated to every node in %v", took.Round(time.Microsecond))
	for i, l := range lists {
		got, ok := l.Get(e.Prefix)
		if !ok || !got.ExpiresAt.Equal(e.ExpiresAt) || got.Reason != "scanner" || got.Source != blocklist.SourceAdmin {
			t.Errorf("node %d: entry %+v, want %+v (same absolute expiry)", i, got, e)
		}
	}

	// A node that joins later receives the current blocklist.
	lateList := newList(t)
	late := h.startWith("late", false, lateList, ns[1].Addr())
	if !lateList.Contains(ip) {
		t.Fatal("the late node did not receive the blocklist when it joined")
	}
	// Every node must know the late one before the next broadcast can be
	// expected to reach it (membership itself spreads by gossip).
	h.waitMembers(append(ns, late), 4, 5*time.Second)

	// Removal on another node reaches everyone.
	wide := netip.MustParsePrefix("198.51.100.0/24")
	if _, err := lists[2].Add(wide, 0, "abuse", blocklist.SourceAbuse); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the /24 everywhere", func() bool {
		return lists[0].Contains(netip.MustParseAddr("198.51.100.9")) && lateList.Contains(netip.MustParseAddr("198.51.100.9"))
	})
	lists[1].Remove(wide)
	waitFor(t, time.Second, "the removal everywhere", func() bool {
		for _, l := range append(lists, lateList) {
			if l.Contains(netip.MustParseAddr("198.51.100.9")) {
				return false
			}
		}
		return true
	})

	// Expiry: the same instant everywhere (absolute time), no messages.
	time.Sleep(time.Until(e.ExpiresAt) + 10*time.Millisecond)
	for i, l := range append(lists, lateList) {
		if l.Contains(ip) {
			t.Errorf("list %d still blocks after the expiry", i)
		}
	}
	// Sweeping the expired entry is not sent around (no echo storms).
	for _, l := range lists {
		l.Sweep()
	}
}

func TestBlocklistConflicts(t *testing.T) {
	var s blockState
	s.init()
	l := newList(t)
	s.l = l
	p := netip.MustParsePrefix("192.0.2.1/32")
	t0 := time.Now().UTC()
	newer := blocklist.Entry{Prefix: p, Reason: "new", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	older := blocklist.Entry{Prefix: p, Reason: "old", CreatedAt: t0.Add(-time.Minute), ExpiresAt: t0.Add(time.Hour)}
	if err := s.applyAdd(newer); err != nil {
		t.Fatal(err)
	}
	s.applyAdd(older)
	if got, _ := l.Get(p); got.Reason != "new" {
		t.Fatalf("an older add replaced a newer one: %+v", got)
	}
	// A removal after the add wins; an add created before the removal
	// (a late push-pull) does not bring it back.
	s.applyRemove(p, t0.Add(time.Second))
	if _, ok := l.Get(p); ok {
		t.Fatal("removal not applied")
	}
	s.applyAdd(newer)
	if _, ok := l.Get(p); ok {
		t.Fatal("a tombstoned entry came back")
	}
	// Expired entries are not stored.
	gone := blocklist.Entry{Prefix: netip.MustParsePrefix("192.0.2.2/32"), CreatedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(-time.Minute)}
	s.applyAdd(gone)
	if l.Len() != 0 {
		t.Fatalf("expired entry stored: %d entries", l.Len())
	}
}

// TestShutdownLeaksNothing starts nodes with every feature on and checks
// that Shutdown stops all their goroutines.
func TestShutdownLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	h := &harness{t: t, sync: 20 * time.Millisecond}
	ns := h.cluster(3, false)
	for _, n := range ns {
		n.AttachBlocklist(newList(t))
		for i := 0; i < 50; i++ {
			n.engine.Take(nil, []byte{byte(i)}, n.lim, 1, time.Now())
		}
	}
	time.Sleep(100 * time.Millisecond)
	ns[2].kill()
	for _, n := range ns {
		if err := n.Shutdown(); err != nil {
			t.Error(err)
		}
	}
	waitFor(t, 5*time.Second, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
