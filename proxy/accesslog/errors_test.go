package accesslog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// flakyWriter fails its first fail writes, writing half of each, then
// works.
type flakyWriter struct {
	mu    sync.Mutex
	fail  int
	calls int
	buf   bytes.Buffer
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if w.calls <= w.fail {
		n := len(p) / 2
		w.buf.Write(p[:n])
		return n, errors.New("no space left on device")
	}
	return w.buf.Write(p)
}

func (w *flakyWriter) Close() error { return nil }

// syncBuffer is a bytes.Buffer safe for the writer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWriteErrorRecovers: failed writes (a full disk) are counted as
// dropped lines, logged once per ErrorLogEvery, and the logger goes on
// writing once the output works again, on a new line after the partial
// one the failed write left.
func TestWriteErrorRecovers(t *testing.T) {
	w := &flakyWriter{fail: 2}
	var logs syncBuffer
	drop := metrics.NewSet().NewCounter("edgeguard_access_log_dropped_total")
	l := start(Options{Path: "test", Buffer: 16, Dropped: drop, ErrorLog: slog.New(slog.NewTextHandler(&logs, nil))},
		nil, &output{w: w, regular: true})
	r := request()
	submit := func() {
		e := l.Acquire()
		fill(e, &r.Ctx)
		l.Submit(e)
	}
	for i := 1; i <= 2; i++ {
		submit()
		waitFor(t, "a write error", func() bool { return l.WriteErrors() == uint64(i) })
	}
	submit()
	submit()
	waitFor(t, "lines written after the errors", func() bool { return l.Written() == 2 })
	l.Close()
	if l.Dropped() != 2 || drop.Get() != 2 {
		t.Errorf("dropped %d (counter %d), want 2", l.Dropped(), drop.Get())
	}
	if n := strings.Count(logs.String(), "access log write failed"); n != 1 {
		t.Errorf("%d error records, want 1 (rate-limited):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("error record without the error: %s", logs.String())
	}
	lines := strings.Split(strings.TrimSuffix(w.buf.String(), "\n"), "\n")
	// The second failed write was the '\n' ending the first partial line.
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 1 partial + 2 whole:\n%s", len(lines), w.buf.String())
	}
	for _, line := range lines[1:] {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("line after the errors is not JSON (glued to a partial one?): %s: %v", line, err)
		}
	}
}

// TestWriteErrorDevFull: with an output that always fails, every line is
// counted as dropped and the error is logged, once.
func TestWriteErrorDevFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	var logs syncBuffer
	l, err := NewWithOptions(Options{Path: "/dev/full", Buffer: 16, ErrorLog: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r := request()
	for i := 0; i < 100; i++ {
		e := l.Acquire()
		fill(e, &r.Ctx)
		l.Submit(e)
		if i%10 == 0 {
			waitFor(t, "the writer", func() bool { return l.Dropped() > 0 })
		}
	}
	l.Close()
	if l.Dropped() != 100 || l.Written() != 0 || l.WriteErrors() == 0 {
		t.Errorf("dropped %d, written %d, write errors %d; want 100, 0, > 0", l.Dropped(), l.Written(), l.WriteErrors())
	}
	if n := strings.Count(logs.String(), "access log write failed"); n != 1 {
		t.Errorf("%d error records, want 1:\n%s", n, logs.String())
	}
}

// TestReopenAfterPartialLine: a file that ends in a partial line (a write
// failed before a restart or a reopen) gets the next line on a line of
// its own.
func TestReopenAfterPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, []byte("{\"time\":\"2026-11-\n{\"time\":\"2026"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := New(path, 16)
	if err != nil {
		t.Fatal(err)
	}
	r := request()
	e := l.Acquire()
	fill(e, &r.Ctx)
	l.Submit(e)
	waitWritten(t, l, 1)
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	e = l.Acquire()
	fill(e, &r.Ctx)
	l.Submit(e)
	l.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if len(got) != 4 {
		t.Fatalf("%d lines, want 4: %q", len(got), got)
	}
	for _, line := range got[2:] {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("invalid line %s: %v", line, err)
		}
	}
}

// TestReopenFailure: when the path cannot be opened again (its directory
// was moved away), Reopen returns and logs the error and lines go on to
// the old file.
func TestReopenFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "access.log")
	var logs syncBuffer
	l, err := NewWithOptions(Options{Path: path, ErrorLog: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	err = l.Reopen()
	if err == nil || !strings.Contains(err.Error(), "cannot reopen") {
		t.Errorf("Reopen: %v, want an error", err)
	}
	if !strings.Contains(logs.String(), "access log not reopened") || !strings.Contains(logs.String(), "access.log") {
		t.Errorf("reopen failure not logged: %q", logs.String())
	}
	r := request()
	e := l.Acquire()
	fill(e, &r.Ctx)
	l.Submit(e)
	l.Close()
	if lines := readLines(t, filepath.Join(dir+".old", "access.log")); len(lines) != 1 {
		t.Errorf("old file has %d lines, want 1", len(lines))
	}
}

// TestCookieAfterProxyDeletedIt: the proxy deletes the parsed Cookie
// header before the line is captured (it forwards the raw lines); the
// cookie is still logged, as REDACTED.
func TestCookieAfterProxyDeletedIt(t *testing.T) {
	l := &Logger{}
	var probs []OptionError
	if l.ext, probs = compileExtras(Options{Headers: []string{"X-Tenant", "Cookie"}}); len(probs) > 0 {
		t.Fatal(probs)
	}
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\nX-Tenant: acme\r\nCookie: sid=s3cr3t\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\ncOOKIE: sid\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Cookie: x\r\nCookies: y\r\n\r\n", // no cookie
	} {
		r := request()
		h := &r.RC.Request.Header
		r.RC.Request.Reset()
		if err := r.RC.Request.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			t.Fatal(err)
		}
		h.Del("Cookie") // as proxy/handler.go does before forwarding
		e := l.Acquire()
		l.Capture(e, &r.Ctx)
		line := string(AppendJSON(nil, e))
		want := strings.Contains(raw, "sid")
		if got := strings.Contains(line, `"cookie":"REDACTED"`); got != want || strings.Contains(line, "s3cr3t") {
			t.Errorf("%q: line %s, want cookie logged: %v", raw, line, want)
		}
	}
}
