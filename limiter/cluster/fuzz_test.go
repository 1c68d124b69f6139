package cluster

import (
	"bytes"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/limiter"
)

// sampleBatch encodes a small msgRate batch (without the type byte).
func sampleBatch() []byte {
	e := limiter.NewEngine(limiter.Config{TrackDeltas: true})
	gold, _ := e.NewLimit("gold", limiter.Window{Slot: 0, Period: time.Second, Limit: 100})
	free, _ := e.NewLimit("", limiter.Window{Slot: 1, Period: time.Minute, Limit: 5})
	var w batchWriter
	w.reset(&rateHeader{sender: "gw-1", window: 100 * time.Millisecond, engine: "rl"})
	w.add(gold, []byte("i\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x0a\x00\x00\x01"), 3)
	w.add(free, []byte("calice"), 1)
	w.add(gold, []byte("cbob"), 70)
	return w.buf[1:]
}

// sampleState encodes one engine's state.
func sampleState() []byte {
	now := time.Now()
	e := limiter.NewEngine(limiter.Config{})
	lim, _ := e.NewLimit("std", limiter.Window{Slot: 0, Period: time.Second, Limit: 10}, limiter.Window{Slot: 2, Period: time.Hour, Limit: 1000})
	e.Take(nil, []byte("alice"), lim, 5, now)
	e.Take(nil, bytes.Repeat([]byte("k"), 100), lim, 1, now)
	return appendRateState(nil, "rl", e, now, 1<<20)
}

func TestWireRoundTrip(t *testing.T) {
	var got []rateEntry
	var hdr rateHeader
	err := parseRate(sampleBatch(), func(h *rateHeader) bool { hdr = *h; return true }, func(e *rateEntry) {
		c := *e
		c.key = append([]byte(nil), e.key...)
		got = append(got, c)
	})
	if err != nil || hdr.sender != "gw-1" || hdr.window != 100*time.Millisecond || hdr.engine != "rl" || len(got) != 3 {
		t.Fatalf("header %+v, %d entries, err %v", hdr, len(got), err)
	}
	if got[1].lim != "" || string(got[1].key) != "calice" || got[2].lim != "gold" || got[2].n != 70 {
		t.Fatalf("entries: %+v", got)
	}
	n := 0
	rest, err := parseRateState(sampleState(), func(engine string, s *stateEntry) {
		n++
		if engine != "rl" || s.lim != "std" || s.u[0] <= 0 || s.u[2] <= 0 || s.u[1] != 0 {
			t.Errorf("state entry %q %+v", engine, s)
		}
	})
	if err != nil || len(rest) != 0 || n != 2 {
		t.Fatalf("state: %d entries, %d bytes left, %v", n, len(rest), err)
	}
}

// TestBatchesFitPackets: a drain of many keys is split into packets that
// memberlist can send over UDP.
func TestBatchesFitPackets(t *testing.T) {
	e := limiter.NewEngine(limiter.Config{TrackDeltas: true})
	lim, _ := e.NewLimit("a-rather-long-tier-name", limiter.Window{Slot: 0, Period: time.Second, Limit: 100})
	for i := 0; i < 500; i++ {
		e.Take(nil, bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 24), lim, 1, time.Now())
	}
	var w batchWriter
	h := rateHeader{sender: "node", window: time.Second, engine: "rl"}
	w.reset(&h)
	packets, entries := 0, 0
	flush := func() {
		if len(w.buf) > maxPacket {
			t.Fatalf("packet of %d bytes", len(w.buf))
		}
		k := 0
		if err := parseRate(w.buf[1:], nil, func(*rateEntry) { k++ }); err != nil || k != w.n {
			t.Fatalf("packet decodes to %d of %d entries: %v", k, w.n, err)
		}
		packets++
		entries += k
	}
	e.Drain(func(key []byte, l *limiter.Limit, n uint32) {
		if !w.add(l, key, n) {
			flush()
			w.reset(&h)
			w.add(l, key, n)
		}
	})
	flush()
	if entries != 500 {
		t.Fatalf("%d entries in %d packets", entries, packets)
	}
	t.Logf("500 keys of 48 bytes: %d packets", packets)
}

func FuzzParseRate(f *testing.F) {
	f.Add(sampleBatch())
	f.Add([]byte{})
	f.Add([]byte{4, 'g', 'w', '-', '1', 0x80, 0x80, 0x80, 0x80, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		parseRate(b, nil, func(e *rateEntry) {
			if len(e.key) > maxKeyLen || e.n == 0 {
				t.Fatalf("bad entry %+v", e)
			}
		})
	})
}

func FuzzParseRateState(f *testing.F) {
	f.Add(sampleState())
	f.Add([]byte{2, 'r', 'l', 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e := limiter.NewEngine(limiter.Config{Shards: 1, MaxKeys: 64})
		lim, _ := e.NewLimit("std", limiter.Window{Slot: 0, Period: time.Second, Limit: 10})
		now := time.Now()
		parseRateState(b, func(engine string, s *stateEntry) {
			if len(s.key) > maxKeyLen {
				t.Fatalf("key of %d bytes", len(s.key))
			}
			e.MergeUsage(s.key, lim, &s.u, now) // must not panic
		})
	})
}
