package accesslog

import (
	"path/filepath"
	"runtime"
	"testing"
)

func newFileLogger(tb testing.TB, o Options) *Logger {
	o.Path = filepath.Join(tb.TempDir(), "access.log")
	o.Buffer = 8192
	l, err := NewWithOptions(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// TestSubmitAllocs fails when filling, capturing and submitting an entry
// (and writing it, in the writer goroutine) allocates in steady state.
func TestSubmitAllocs(t *testing.T) {
	l := newFileLogger(t, testOptions)
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	r := request()
	var n uint64
	// Each request waits for its line to be written: the steady state of a
	// writer that keeps up (a burst larger than what the writer has drained
	// grows the pool once, then is reused).
	submit := func() {
		e := l.Acquire()
		fill(e, &r.Ctx)
		l.Capture(e, &r.Ctx)
		l.Submit(e)
		n++
		for l.Written() < n {
			runtime.Gosched()
		}
	}
	for i := 0; i < 1000; i++ {
		submit()
	}
	if n := testing.AllocsPerRun(2000, submit); n > 0 {
		t.Errorf("access log allocates %v times per request, want 0", n)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	for _, tc := range []struct {
		name string
		o    Options
	}{{"plain", Options{}}, {"headers+custom", testOptions}} {
		b.Run(tc.name, func(b *testing.B) {
			ext, _ := compileExtras(tc.o)
			l := &Logger{ext: ext}
			r := request()
			e := new(Entry)
			fill(e, &r.Ctx)
			l.Capture(e, &r.Ctx)
			buf := AppendJSON(nil, e)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendJSON(buf[:0], e)
			}
		})
	}
}

// BenchmarkSubmit is fill, capture and queue on the request path, with the
// writer encoding and writing to a file concurrently; every 1024 entries
// the loop lets the writer catch up, so the pool stays warm (a tight loop
// otherwise outruns the writer and only measures pool growth).
func BenchmarkSubmit(b *testing.B) {
	for _, tc := range []struct {
		name string
		o    Options
	}{{"plain", Options{}}, {"headers+custom", testOptions}} {
		b.Run(tc.name, func(b *testing.B) {
			l := newFileLogger(b, tc.o)
			r := request()
			var n uint64
			b.ReportAllocs()
			for b.Loop() {
				e := l.Acquire()
				fill(e, &r.Ctx)
				l.Capture(e, &r.Ctx)
				l.Submit(e)
				if n++; n%1024 == 0 {
					for l.Written()+l.Dropped() < n {
						runtime.Gosched()
					}
				}
			}
		})
	}
}
