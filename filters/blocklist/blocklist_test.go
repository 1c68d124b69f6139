package blocklist_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// clock is a settable fake clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

func open(t *testing.T, dir string, c *clock) *blocklist.List {
	t.Helper()
	l, err := blocklist.Open(blocklist.Options{Dir: dir, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAddContainsRemove(t *testing.T) {
	c := newClock()
	l := open(t, "", c)
	if l.Contains(addr("203.0.113.7")) {
		t.Fatal("empty list blocks")
	}
	mustAdd(t, l, "203.0.113.7/32", time.Hour, "manual", blocklist.SourceAdmin)
	mustAdd(t, l, "198.51.100.0/24", 0, "scanner net", blocklist.SourceAdmin)
	mustAdd(t, l, "2001:db8:bad::/48", time.Hour, "", "cluster:node2")
	mustAdd(t, l, "::ffff:192.0.2.0/120", time.Hour, "mapped", "") // = 192.0.2.0/24

	for a, want := range map[string]bool{
		"203.0.113.7":         true,
		"203.0.113.8":         false,
		"198.51.100.200":      true,
		"::ffff:198.51.100.1": true, // mapped client
		"2001:db8:bad:1::1":   true,
		"2001:db8:baa::1":     false,
		"192.0.2.77":          true, // mapped entry stored as IPv4
		"10.0.0.1":            false,
	} {
		if got := l.Contains(addr(a)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
	if _, ok := l.Get(pfx("192.0.2.0/24")); !ok {
		t.Error("mapped entry not stored as 192.0.2.0/24")
	}

	list := l.List()
	var got []string
	for _, e := range list {
		got = append(got, e.Prefix.String())
	}
	if want := "192.0.2.0/24 198.51.100.0/24 203.0.113.7/32 2001:db8:bad::/48"; strings.Join(got, " ") != want {
		t.Errorf("List = %v, want %s", got, want)
	}
	if e := list[2]; e.Reason != "manual" || e.Source != "admin" || !e.CreatedAt.Equal(c.Now()) || !e.ExpiresAt.Equal(c.Now().Add(time.Hour)) {
		t.Errorf("entry %+v", e)
	}
	if !list[1].ExpiresAt.IsZero() {
		t.Errorf("permanent entry has expiry %v", list[1].ExpiresAt)
	}

	// Remove is exact: removing the /32 inside the /24 changes nothing there.
	if _, ok := l.Remove(pfx("198.51.100.1/32")); ok {
		t.Error("removed a prefix that was not there")
	}
	if e, ok := l.Remove(pfx("203.0.113.7/32")); !ok || e.Reason != "manual" {
		t.Errorf("Remove: %v %+v", ok, e)
	}
	if l.Contains(addr("203.0.113.7")) {
		t.Error("still blocked after Remove")
	}
	if l.Len() != 3 {
		t.Errorf("Len %d", l.Len())
	}
}

func mustAdd(t *testing.T, l *blocklist.List, p string, ttl time.Duration, reason, source string) blocklist.Entry {
	t.Helper()
	e, err := l.Add(pfx(p), ttl, reason, source)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAddErrors(t *testing.T) {
	l, _ := blocklist.Open(blocklist.Options{MaxEntries: 2})
	if _, err := l.Add(netip.Prefix{}, time.Hour, "", ""); err == nil {
		t.Error("invalid prefix accepted")
	}
	for ttl, want := range map[time.Duration]string{
		-time.Second:                   "blocklist: ttl -1s is negative",
		time.Nanosecond:                "blocklist: ttl 1ns is too short: at least 1s",
		999 * time.Millisecond:         "blocklist: ttl 999ms is too short: at least 1s",
		blocklist.MaxTTL + time.Second: "blocklist: ttl 876000h0m1s is too large: at most 876000h (100 years)",
		time.Duration(math.MaxInt64):   "is too large: at most 876000h",
	} {
		if e, err := l.Add(pfx("10.0.0.1/32"), ttl, "", ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ttl %v: %+v, %v; want an error %q", ttl, e, err, want)
		}
	}
	if _, err := l.Add(pfx("10.0.0.1/32"), time.Hour, strings.Repeat("x", 2000), ""); err == nil {
		t.Error("huge reason accepted")
	}
	mustAdd(t, l, "10.0.0.1/32", time.Hour, "", "")
	mustAdd(t, l, "10.0.0.2/32", time.Hour, "", "")
	if _, err := l.Add(pfx("10.0.0.3/32"), time.Hour, "", ""); !errors.Is(err, blocklist.ErrFull) {
		t.Errorf("third entry: %v, want ErrFull", err)
	}
	// replacing an existing prefix is allowed when full
	mustAdd(t, l, "10.0.0.2/32", 2*time.Hour, "longer", "")
}

func TestExpiry(t *testing.T) {
	c := newClock()
	l := open(t, "", c)
	var changes []blocklist.Change
	var mu sync.Mutex
	l.OnChange(func(ch blocklist.Change) { mu.Lock(); changes = append(changes, ch); mu.Unlock() })

	mustAdd(t, l, "203.0.113.7/32", time.Hour, "short", "")
	mustAdd(t, l, "203.0.113.0/24", 2*time.Hour, "wide", "")
	mustAdd(t, l, "198.51.100.9/32", 30*time.Minute, "", "")

	c.Advance(59 * time.Minute)
	if !l.Contains(addr("203.0.113.7")) {
		t.Fatal("blocked address free before its expiry")
	}
	if l.Contains(addr("198.51.100.9")) {
		t.Error("expired entry still blocks (no sweep needed)")
	}
	c.Advance(time.Minute) // exactly one hour: the /32 has expired
	// the /32 is expired but the covering /24 still blocks, before any sweep
	if !l.Contains(addr("203.0.113.7")) {
		t.Error("address inside an active /24 not blocked after its /32 expired")
	}
	if n := l.Sweep(); n != 2 {
		t.Errorf("Sweep removed %d, want 2", n)
	}
	if _, ok := l.Get(pfx("203.0.113.7/32")); ok {
		t.Error("expired entry still listed after Sweep")
	}
	c.Advance(time.Hour)
	if l.Contains(addr("203.0.113.1")) {
		t.Error("/24 blocks after its expiry")
	}
	if len(l.List()) != 0 {
		t.Errorf("List after expiry: %v", l.List())
	}
	l.Sweep()

	mu.Lock()
	defer mu.Unlock()
	var ops []string
	for _, ch := range changes {
		ops = append(ops, ch.Op.String()+" "+ch.Entry.Prefix.String())
	}
	want := "added 203.0.113.7/32,added 203.0.113.0/24,added 198.51.100.9/32," +
		"expired 198.51.100.9/32,expired 203.0.113.7/32,expired 203.0.113.0/24"
	if strings.Join(ops, ",") != want {
		t.Errorf("changes:\n%s\nwant\n%s", strings.Join(ops, ","), want)
	}
}

func TestReAddResetsExpiry(t *testing.T) {
	c := newClock()
	l := open(t, "", c)
	var replaced *blocklist.Entry
	l.OnChange(func(ch blocklist.Change) { replaced = ch.Replaced })
	mustAdd(t, l, "203.0.113.7/32", time.Minute, "first", "")
	c.Advance(30 * time.Second)
	mustAdd(t, l, "203.0.113.7/32", time.Hour, "second", "")
	if replaced == nil || replaced.Reason != "first" {
		t.Errorf("Replaced = %+v", replaced)
	}
	c.Advance(time.Minute)
	if n := l.Sweep(); n != 0 {
		t.Errorf("sweep removed the renewed entry (%d)", n)
	}
	if !l.Contains(addr("203.0.113.7")) {
		t.Error("renewed entry expired with its old TTL")
	}
}

func TestPersistAndReload(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := open(t, dir, c)
	mustAdd(t, l, "203.0.113.7/32", time.Hour, "brute force", blocklist.SourceAbuse)
	mustAdd(t, l, "2001:db8::/32", 0, "permanent", blocklist.SourceAdmin)
	mustAdd(t, l, "198.51.100.0/24", time.Minute, "short", "")
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, blocklist.FileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v", fi.Mode())
	}
	data, _ := os.ReadFile(path)
	var doc struct {
		Version int
		Entries []map[string]any
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Version != 1 || len(doc.Entries) != 3 {
		t.Fatalf("file: %v %s", err, data)
	}
	if doc.Entries[0]["prefix"] != "198.51.100.0/24" || doc.Entries[1]["reason"] != "brute force" {
		t.Errorf("file entries %v", doc.Entries)
	}
	if _, has := doc.Entries[2]["expires_at"]; has {
		t.Errorf("permanent entry written with expiry: %v", doc.Entries[2])
	}
	assertNoTemp(t, dir)

	// restart two minutes later: the one-minute entry is gone
	c.Advance(2 * time.Minute)
	l2 := open(t, dir, c)
	if !l2.Contains(addr("203.0.113.7")) || !l2.Contains(addr("2001:db8::1")) {
		t.Error("entries lost across restart")
	}
	if l2.Contains(addr("198.51.100.1")) {
		t.Error("entry expired during the downtime came back")
	}
	e, ok := l2.Get(pfx("203.0.113.7/32"))
	if !ok || e.Reason != "brute force" || e.Source != "abuse" || !e.ExpiresAt.Equal(c.Now().Add(58*time.Minute)) {
		t.Errorf("reloaded entry %+v", e)
	}

	// a delete survives the next restart too
	l2.Remove(pfx("2001:db8::/32"))
	if err := l2.Flush(); err != nil {
		t.Fatal(err)
	}
	l3 := open(t, dir, c)
	if l3.Contains(addr("2001:db8::1")) || l3.Len() != 1 {
		t.Errorf("after delete and restart: len %d", l3.Len())
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestCorruptFile(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":   "this is not json",
		"truncated": `{"version":1,"entries":[{"prefix":"203.0.113.7/32"`,
		"version":   `{"version":99,"entries":[]}`,
		"trailing":  `{"version":1,"entries":[]} {}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, blocklist.FileName)
			os.WriteFile(path, []byte(content), 0o600)
			l, err := blocklist.Open(blocklist.Options{Dir: dir})
			var ce *blocklist.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *CorruptError", err)
			}
			if l == nil || l.Len() != 0 {
				t.Fatal("no usable empty list")
			}
			if !strings.HasSuffix(ce.MovedTo, ".corrupt") || !strings.Contains(err.Error(), "corrupt file, starting with an empty blocklist") {
				t.Errorf("warning %q moved to %q", err, ce.MovedTo)
			}
			if kept, _ := os.ReadFile(ce.MovedTo); string(kept) != content {
				t.Errorf("corrupt file not kept aside: %q", kept)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("corrupt file still in place: %v", err)
			}
			// the list works and saves a good file again
			mustAdd(t, l, "203.0.113.9/32", time.Hour, "", "")
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if l2, err := blocklist.Open(blocklist.Options{Dir: dir}); err != nil || !l2.Contains(addr("203.0.113.9")) {
				t.Errorf("after recovery: %v", err)
			}
		})
	}
}

func TestPartlyBadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, blocklist.FileName)
	os.WriteFile(path, []byte(`{"version":1,"entries":[
		{"prefix":"203.0.113.7/32","reason":"ok"},
		{"prefix":"not-an-ip"},
		{"reason":"no prefix"},
		{"prefix":"198.51.100.0/24","expires_at":"2999-01-01T00:00:00Z"}
	]}`), 0o600)
	l, err := blocklist.Open(blocklist.Options{Dir: dir})
	var ce *blocklist.CorruptError
	if !errors.As(err, &ce) || ce.Skipped != 2 || ce.Loaded != 2 {
		t.Fatalf("err = %v (%+v)", err, ce)
	}
	if !strings.Contains(err.Error(), "skipped 2 bad entries, loaded 2") || !strings.Contains(err.Error(), "entry 1") {
		t.Errorf("warning %q", err)
	}
	if !l.Contains(addr("203.0.113.7")) || !l.Contains(addr("198.51.100.5")) {
		t.Error("good entries not loaded")
	}
	// the good entries are written back at the next flush
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := blocklist.Open(blocklist.Options{Dir: dir}); err != nil {
		t.Errorf("rewritten file: %v", err)
	}
}

func TestRunPersistsAndSweeps(t *testing.T) {
	dir := t.TempDir()
	l, err := blocklist.Open(blocklist.Options{Dir: dir}) // real clock
	if err != nil {
		t.Fatal(err)
	}
	expired := make(chan blocklist.Entry, 1)
	l.OnChange(func(ch blocklist.Change) {
		if ch.Op == blocklist.Expired {
			expired <- ch.Entry
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Add takes at least MinTTL; Put (as from another node) any expiry.
	now := time.Now()
	if _, ok, err := l.Put(blocklist.Entry{Prefix: pfx("203.0.113.7/32"), Reason: "short", CreatedAt: now, ExpiresAt: now.Add(150 * time.Millisecond)}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	mustAdd(t, l, "203.0.113.8/32", time.Hour, "long", "")
	path := filepath.Join(dir, blocklist.FileName)
	waitFor(t, func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), "203.0.113.8/32")
	}, "write-behind save")
	select {
	case e := <-expired:
		if e.Prefix != pfx("203.0.113.7/32") {
			t.Errorf("expired %v", e.Prefix)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sweeper did not expire the entry")
	}
	waitFor(t, func() bool {
		b, _ := os.ReadFile(path)
		return !strings.Contains(string(b), "203.0.113.7/32")
	}, "save after expiry")
	cancel()
	<-done
	assertNoTemp(t, dir)
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestAccess(t *testing.T) {
	c := newClock()
	l := open(t, "", c)
	mustAdd(t, l, "203.0.113.0/24", time.Hour, "", "")
	r := filtertest.NewRequest("GET", "/x", "203.0.113.7")
	if v := l.Access(&r.Ctx); v != filters.Respond {
		t.Fatalf("verdict %v", v)
	}
	if s := r.RC.Response.StatusCode(); s != 403 {
		t.Errorf("status %d", s)
	}
	if b := string(r.RC.Response.Body()); b != `{"message":"IP address not allowed: 203.0.113.7","request_id":"test-request-id"}` {
		t.Errorf("body %s", b)
	}
	if r.Ctx.RejectedBy != blocklist.RejectedBy || r.Ctx.RejectReason != blocklist.ReasonBlocked {
		t.Errorf("rejected by %q reason %q", r.Ctx.RejectedBy, r.Ctx.RejectReason)
	}
	ok := filtertest.NewRequest("GET", "/x", "198.51.100.1")
	if v := l.Access(&ok.Ctx); v != filters.Continue {
		t.Errorf("unblocked client: %v", v)
	}
	e, found := l.Lookup(addr("203.0.113.99"))
	if !found || e.Prefix != pfx("203.0.113.0/24") {
		t.Errorf("Lookup %v %+v", found, e)
	}
}

func TestContainsDoesNotAllocate(t *testing.T) {
	c := newClock()
	l := open(t, "", c)
	for i := range 1000 {
		mustAdd(t, l, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24).String(), time.Hour, "", "")
	}
	for _, a := range []string{"10.0.5.1", "11.0.0.1", "2001:db8::1", "::ffff:10.0.5.1"} {
		r := filtertest.NewRequest("GET", "/", a)
		if n := testing.AllocsPerRun(200, func() {
			l.Access(&r.Ctx)
			r.Reset()
		}); n != 0 {
			t.Errorf("%s: %.1f allocs", a, n)
		}
	}
}

// TestConcurrent runs lookups while entries are added, removed and swept;
// run with -race.
func TestConcurrent(t *testing.T) {
	c := newClock()
	l := open(t, t.TempDir(), c)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					l.Contains(addr("10.0.0.1"))
					l.Contains(addr("2001:db8::1"))
				}
			}
		}()
	}
	for i := range 300 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 24)
		if _, err := l.Add(p, time.Duration(i%5)*time.Second, "", ""); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			l.Remove(p)
		}
		if i%50 == 0 {
			c.Advance(time.Second)
			l.Sweep()
			l.Flush()
		}
	}
	close(stop)
	wg.Wait()
}

// TestParseTTL: the admin API's ttl, with an error that says what is wrong.
func TestParseTTL(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"": 0, "1s": time.Second, "30m": 30 * time.Minute, "1h30m": 90 * time.Minute,
		"876000h": blocklist.MaxTTL, "1.5s": 1500 * time.Millisecond,
	} {
		if d, err := blocklist.ParseTTL(s); err != nil || d != want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", s, d, err, want)
		}
	}
	for s, want := range map[string]string{
		// too large, also beyond what time.Duration holds
		"9999999h":  `ttl "9999999h" is too large: at most 876000h (100 years); omit ttl for a block without expiry`,
		"876001h":   `ttl "876001h" is too large: at most 876000h (100 years)`,
		"1e10h":     `ttl "1e10h" is not a duration`,
		"1ns":       `ttl "1ns" is too short: at least 1s`,
		"999ms":     `ttl "999ms" is too short: at least 1s`,
		"0s":        `ttl "0s" is not positive`,
		"-1s":       `ttl "-1s" is not positive`,
		"-9999999h": `ttl "-9999999h" is not positive`,
		"1 h":       `ttl "1 h" is not a duration: want one such as 30m or 1h`,
		"tomorrow":  `ttl "tomorrow" is not a duration`,
		"10":        `ttl "10" is not a duration`,
	} {
		if d, err := blocklist.ParseTTL(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTTL(%q) = %v, %v; want an error %q", s, d, err, want)
		}
	}
}
