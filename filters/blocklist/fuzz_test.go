package blocklist

import (
	"testing"
	"time"
)

// FuzzDecodeFile feeds arbitrary bytes to the file parser: it must not
// panic, what it accepts must be canonical, unique and bounded, and what it
// accepts must be written back and read again unchanged.
func FuzzDecodeFile(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"entries":[{"prefix":"203.0.113.7/32","reason":"x","created_at":"2026-01-01T00:00:00Z","expires_at":"2999-01-01T00:00:00Z"}]}`,
		`{"version":1,"entries":[{"prefix":"::ffff:10.0.0.0/104"},{"prefix":"bad"}]}`,
		`{"version":1,"entries":[{"prefix":"10.0.0.0/8","source":"a"},{"prefix":"10.1.0.0/8","source":"b"}]}`,
		`{"version":1,"entries":[{"prefix":"10.0.0.0/8","expires_at":"9999-12-31T23:59:59-01:00"}]}`,
		`{"version":1,"entries":null}`,
		`{"version":2}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const max = 50
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, skipped, err := decodeFile(data, now, max)
		if skipped > 0 && err == nil {
			t.Fatal("skipped entries without an error")
		}
		if len(entries) > max {
			t.Fatalf("%d entries, max %d", len(entries), max)
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if !e.Prefix.IsValid() || e.Prefix != e.Prefix.Masked() || (e.Prefix.Addr().Is4In6() && e.Prefix.Bits() >= 96) {
				t.Fatalf("non-canonical prefix %v", e.Prefix)
			}
			if seen[e.Prefix.String()] {
				t.Fatalf("duplicate %v", e.Prefix)
			}
			seen[e.Prefix.String()] = true
			if !e.Active(now) {
				t.Fatalf("expired entry kept: %+v", e)
			}
		}
		out, err := encodeFile(append([]Entry(nil), entries...), now)
		if err != nil {
			t.Fatalf("cannot write back what was loaded: %v", err)
		}
		again, skipped, err := decodeFile(out, now, max)
		if err != nil || skipped != 0 || len(again) != len(entries) {
			t.Fatalf("reload: %v, %d skipped, %d/%d entries", err, skipped, len(again), len(entries))
		}
		byPrefix := map[string]Entry{}
		for _, e := range again {
			byPrefix[e.Prefix.String()] = e
		}
		for _, a := range entries {
			b := byPrefix[a.Prefix.String()]
			if a.Reason != b.Reason || a.Source != b.Source || !a.CreatedAt.Equal(b.CreatedAt) || !a.ExpiresAt.Equal(b.ExpiresAt) {
				t.Fatalf("entry changed: %+v → %+v", a, b)
			}
		}
	})
}
