// Package limiter is edgeguard's rate-limit engine: token buckets for many
// keys, sharded by key hash so that no decision takes a global lock, with up
// to MaxWindows windows (second, minute, hour, day, …) per key that are
// checked and consumed atomically.
//
// # Model
//
// An Engine holds the state of every key it has seen; a Limit says how much
// a key may consume. Every window of a Limit is a token bucket that holds
// Burst tokens (default: Limit) and refills at Limit tokens per Period. The
// buckets are kept in GCRA form (one "theoretical arrival time" per window,
// an int64), so a key's whole state is a fixed-size record without pointers.
//
// Engine.Take takes n tokens from every window of a Limit or from none:
// under the key's own lock it checks every window, and only if all of them
// have n tokens does it consume them. There is no check-then-increment gap,
// so concurrent requests cannot overshoot the limit. Rejected requests
// consume nothing.
//
// Keys are spread over shards by hash. A decision for a key the engine
// already holds takes no shard-wide lock: it probes the shard's index with
// atomic loads and locks only the key's entry, so decisions for different
// keys on different cores write no common cache line. The shard lock is
// taken only to add or evict a key.
//
// Time is passed in (like golang.org/x/time/rate's AllowN), so tests are
// exact without sleeping. Times are measured from Config.Epoch with the
// monotonic clock when both times carry it.
//
// # Guarantees
//
//   - A client that never sends more than Limit requests in any interval of
//     length Period is never rejected by that window.
//   - Over any interval of length D, a key is admitted at most
//     Burst + Limit·D/Period requests per window (plus at most one token of
//     rounding: intervals are whole nanoseconds, rounded down).
//
// # Memory
//
// Keys live in per-shard open-addressing indexes over fixed-size,
// pointer-free entries (128 bytes each, plus 16–32 bytes of index, about
// 150 bytes per key measured), so a million keys are pointer-free memory the
// garbage collector never scans, and a new key allocates nothing once its
// block of 64 entries exists. The number of keys is capped
// (Config.MaxKeys, enforced per shard as ceil(MaxKeys/Shards)); when a shard
// is full a new key evicts an idle key (all buckets full again: nothing is
// lost by forgetting it) or, failing that, the least recently used of a
// sample of 8. A flood of unique keys therefore cannot grow memory beyond
// the cap. Sweep evicts all idle keys; their entries are reused, and memory
// stays at the high-water mark the cap bounds.
//
// Keys longer than 48 bytes are stored as 0xFF followed by their SHA-256;
// keys of that exact form are reserved.
//
// # Cluster seam
//
// With Config.TrackDeltas, every admitted take also adds n to the key's
// local-consumption counter and marks it dirty (an add and a branch on the
// hot path). Drain hands the dirty keys with their counters to a sync layer
// and resets them; ApplyRemote applies consumption reported by other nodes
// to a key's buckets without marking it dirty. Neither runs on the request
// path.
//
// All methods of Engine are safe for concurrent use.
package limiter
