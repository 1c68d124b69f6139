package jwt

import (
	"bytes"
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/jwt/jose"
)

// entry is one verified token. It is immutable once stored and is also the
// request's filters.Claims.
type entry struct {
	token      []byte // the raw token: compared on every hit
	claims     []byte // the decoded, validated claims JSON
	exp, nbf   int64  // whole seconds (rounded up)
	hasExp     bool
	hasNbf     bool
	consumer   *filters.Consumer
	credential string
	key        *jose.Key // JWKS key that verified it (nil for credentials)
	iss        *issuer   // JWKS issuer (nil for credentials)
	// members indexes the top-level claims, built once when the token is
	// verified: a template reading $(jwt.sub) on every request then
	// compares names instead of parsing the claims JSON up to the member
	// (BenchmarkAppendClaim).
	members jose.Index
}

// entryOverhead approximates an entry's memory besides its bytes, and
// memberOverhead that of one indexed claim.
const (
	entryOverhead  = 160
	memberOverhead = 56
)

// AppendClaim implements filters.Claims over the verified claims: the value
// at a dotted path ("sub", "realm_access.roles"; a claim whose own name
// contains dots is found first) is appended as text: strings unquoted and
// unescaped, arrays joined with commas, numbers and booleans as written,
// objects as JSON. Null and absent claims report false. Claims are parsed
// lazily, only the one asked for, and nothing is allocated beyond dst.
// The text may contain control characters: a header writer must check.
func (e *entry) AppendClaim(dst []byte, path string) ([]byte, bool) {
	v, k := e.lookup(path)
	if k == jose.Invalid || k == jose.Null {
		return dst, false
	}
	return jose.AppendText(dst, v, k), true
}

// ClaimJSON returns the raw JSON value of the claim at path and its kind
// (Invalid or Null when absent), so that templates can tell an array
// ["a,b","c"] from ["a","b","c"], which AppendClaim renders alike
// (template.TypedClaims).
func (e *entry) ClaimJSON(path string) ([]byte, jose.Kind) { return e.lookup(path) }

var _ filters.Claims = (*entry)(nil)

// lookup is jose.Lookup(e.claims, path), through the member index when
// the entry has one.
func (e *entry) lookup(path string) ([]byte, jose.Kind) {
	if e.members == nil {
		return jose.Lookup(e.claims, path)
	}
	return e.members.Lookup(path)
}

// tokenCache maps a token to its verification. Keys are a seeded 64-bit
// hash of the raw token (hash/maphash, AES-based where the CPU has it); a
// hit compares the stored token with the request's byte for byte, so a hash
// collision can only cost a re-verification, never return another token's
// identity. Memory is bounded by ristretto's cost accounting (bytes), and
// entries expire with their token.
//
// Nothing depends on an entry being kept: ristretto may refuse or evict any
// Set, and the next request simply verifies again.
type tokenCache struct {
	c      *ristretto.Cache[uint64, *entry]
	seed   maphash.Seed
	maxTTL time.Duration
	closed atomic.Bool
}

func newTokenCache(size int64, maxTTL time.Duration) (*tokenCache, error) {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *entry]{
		NumCounters: max(size/100, 10_000), // ~10 counters per expected entry of ~1 KB
		MaxCost:     size,
		BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	return &tokenCache{c: c, seed: maphash.MakeSeed(), maxTTL: maxTTL}, nil
}

// get returns the entry for tok, or nil. It does not allocate.
func (tc *tokenCache) get(tok []byte) *entry {
	if tc == nil || tc.closed.Load() {
		return nil
	}
	e, ok := tc.c.Get(hashBytes(tc, tok))
	if !ok || !bytes.Equal(e.token, tok) {
		return nil
	}
	return e
}

func (tc *tokenCache) set(e *entry, ttl time.Duration) {
	if tc == nil || ttl <= 0 || tc.closed.Load() {
		return
	}
	tc.c.SetWithTTL(hashBytes(tc, e.token), e, int64(len(e.token)+len(e.claims)+entryOverhead+len(e.members)*memberOverhead), min(ttl, tc.maxTTL))
}

// closeGrace delays ristretto's Close, which is not safe while another
// goroutine is inside Get or Set: requests that loaded closed==false just
// before close() finish long before it.
var closeGrace = 10 * time.Second

func (tc *tokenCache) close() {
	if tc == nil || tc.closed.Swap(true) {
		return
	}
	time.AfterFunc(closeGrace, tc.c.Close)
}

func hashBytes(tc *tokenCache, b []byte) uint64 { return maphash.Bytes(tc.seed, b) }
