package httplog

import (
	"testing"
)

// stoppedFilter returns a filter whose worker is stopped, so Log only fills
// entries and queues them (dropping the oldest once the queue is full):
// the request-path cost without the sender's work in the same process.
func stoppedFilter(tb testing.TB) *Filter {
	f := build(tb, "http_endpoint: http://127.0.0.1:9/\nqueue: {max_entries: 64}\nredact_headers: [X-Api-Key]\ncustom_fields: {user_id: \"$(jwt.sub)\", tier: \"$(consumer.tier)\"}")
	f.Close()
	return f
}

// TestLogAllocs fails when the Log phase allocates in steady state.
func TestLogAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	f := stoppedFilter(t)
	r := request(1)
	for i := 0; i < 200; i++ { // warm the entry pool and buffers
		f.Log(&r.Ctx)
	}
	if n := testing.AllocsPerRun(1000, func() { f.Log(&r.Ctx) }); n != 0 {
		t.Errorf("Log allocates %v times per request, want 0", n)
	}
}

// TestEncodeAllocs: the sender reuses its buffers too.
func TestEncodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	f := stoppedFilter(t)
	r := request(1)
	e := entryPool.Get().(*entry)
	e.fill(&r.Ctx, f.lay, r.Ctx.Start)
	var enc encoder
	buf := enc.appendEntry(nil, e)
	if n := testing.AllocsPerRun(1000, func() { buf = enc.appendEntry(buf[:0], e) }); n != 0 {
		t.Errorf("appendEntry allocates %v times, want 0", n)
	}
}

func BenchmarkLog(b *testing.B) {
	b.Run("baseline-noop", func(b *testing.B) {
		r := request(1)
		b.ReportAllocs()
		for b.Loop() {
			_ = r.Ctx.RC.Response.StatusCode()
		}
	})
	b.Run("log", func(b *testing.B) {
		f := stoppedFilter(b)
		r := request(1)
		b.ReportAllocs()
		for b.Loop() {
			f.Log(&r.Ctx)
		}
	})
	b.Run("log-parallel", func(b *testing.B) {
		f := stoppedFilter(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := request(1)
			for pb.Next() {
				f.Log(&r.Ctx)
			}
		})
	})
}

func BenchmarkEncode(b *testing.B) {
	f := stoppedFilter(b)
	r := request(1)
	e := entryPool.Get().(*entry)
	e.fill(&r.Ctx, f.lay, r.Ctx.Start)
	var enc encoder
	buf := enc.appendEntry(nil, e)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.appendEntry(buf[:0], e)
	}
}
