package jwks

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters/jwt/jose"
	"github.com/edgeguard/edgeguard/filters/jwt/jwttest"
)

// provider is an identity provider on loopback whose key set, status,
// delay and Cache-Control the test changes while it runs.
type provider struct {
	srv          *httptest.Server
	mu           sync.Mutex
	body         []byte
	status       int
	delay        time.Duration
	cacheControl string
	jwksHits     atomic.Int64
	discovery    string // issuer named by the discovery document; "" = srv.URL
}

func newProvider(t *testing.T, body []byte) *provider {
	p := &provider{body: body, status: 200, cacheControl: "max-age=3600"}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		body, status, delay, cc, disc := p.body, p.status, p.delay, p.cacheControl, p.discovery
		p.mu.Unlock()
		if r.URL.Path == "/.well-known/openid-configuration" {
			if disc == "" {
				disc = p.srv.URL
			}
			w.Write([]byte(`{"issuer":"` + disc + `","jwks_uri":"` + p.srv.URL + `/jwks"}`))
			return
		}
		p.jwksHits.Add(1)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) set(f func(p *provider)) {
	p.mu.Lock()
	f(p)
	p.mu.Unlock()
}

func startSet(t *testing.T, opt Options) *Set {
	t.Helper()
	s := New(opt)
	s.Acquire()
	t.Cleanup(func() { s.Close() })
	select {
	case <-s.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("first fetch did not succeed")
	}
	return s
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var keys = jwttest.Shared()

func TestFetchAndLookup(t *testing.T) {
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "a", true), keys.JWK("ES256", "b", false),
		keys.JWK("EdDSA", "c", false), map[string]any{"kty": "oct", "kid": "s", "k": "c2VjcmV0", "alg": "HS256"}))
	s := startSet(t, Options{Issuer: p.srv.URL, URI: p.srv.URL + "/jwks"})
	for kid, alg := range map[string]jose.Alg{"a": jose.RS256, "b": jose.ES256, "c": jose.EdDSA} {
		k := s.Key([]byte(kid), alg)
		if k == nil || k.Alg != alg {
			t.Errorf("kid %s: %v", kid, k)
		}
		if !s.Has(k) {
			t.Errorf("Has(%s) false", kid)
		}
	}
	if s.Key([]byte("s"), jose.AlgUnknown) != nil {
		t.Error("a symmetric key from a JWKS was accepted")
	}
	if s.Key(nil, jose.AlgUnknown) != nil {
		t.Error("no-kid lookup with three keys must fail")
	}
	if st := s.Stats(); st.Keys != 3 || st.Fetches != 1 || st.LastSuccess.IsZero() {
		t.Errorf("stats %+v", st)
	}
}

// TestDuplicateKid: keys sharing a kid (RFC 7517 §4.5 allows it for keys of
// different types) do not make the refresh fail: each algorithm's key is
// kept and found by the token's alg, a second key of the same kid and
// algorithm is skipped (the first wins, logged), and the rest of the set
// loads.
func TestDuplicateKid(t *testing.T) {
	other := jwttest.NewKeys()
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "dup", true), keys.JWK("ES256", "dup", false),
		other.JWK("RS256", "dup", true), keys.JWK("EdDSA", "new", false)))
	var log syncBuffer
	s := startSet(t, Options{Issuer: p.srv.URL, URI: p.srv.URL + "/jwks", Logger: slog.New(slog.NewTextHandler(&log, nil))})
	rs, es := s.Key([]byte("dup"), jose.RS256), s.Key([]byte("dup"), jose.ES256)
	if rs == nil || rs.Alg != jose.RS256 || !rs.Equal(mustJWK(t, keys.JWK("RS256", "dup", true))) {
		t.Errorf("RS256 key of the duplicate kid: %v (want the first one)", rs)
	}
	if es == nil || es.Alg != jose.ES256 || !s.Has(rs) || !s.Has(es) {
		t.Errorf("ES256 key of the duplicate kid: %v", es)
	}
	if k := s.Key([]byte("dup"), jose.PS256); k != rs {
		t.Errorf("another alg: %v, want the first key of the kid", k)
	}
	if k := s.Key([]byte("new"), jose.EdDSA); k == nil || k.Alg != jose.EdDSA {
		t.Errorf("the other key of the set: %v", k)
	}
	if st := s.Stats(); st.Keys != 3 || st.FetchErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	if got := log.String(); strings.Count(got, "skipped") != 1 || !strings.Contains(got, `kid \"dup\"`) {
		t.Errorf("log:\n%s", got)
	}
}

func mustJWK(t *testing.T, m map[string]any) *jose.Key {
	t.Helper()
	k, err := jose.ParseJWK(must(json.Marshal(m)), jose.JWKOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// syncBuffer is a bytes.Buffer the set's goroutine may log into.
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

func TestSingleKeyWithoutKid(t *testing.T) {
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "", false)))
	s := startSet(t, Options{Issuer: p.srv.URL, URI: p.srv.URL + "/jwks"})
	k := s.Key(nil, jose.AlgUnknown)
	if k == nil || k.Alg != jose.RS256 || !s.Has(k) {
		t.Fatalf("key %v", k)
	}
}

// TestRotation: the provider publishes a new kid; the first token with it
// is refused at once (no waiting) and asks for a refetch; the new key is
// usable as soon as the refetch landed, and the old one keeps working while
// it is still published.
func TestRotation(t *testing.T) {
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "old", true)))
	s := startSet(t, Options{Issuer: p.srv.URL, URI: p.srv.URL + "/jwks", UnknownKidInterval: 20 * time.Millisecond})
	oldKey := s.Key([]byte("old"), jose.AlgUnknown)
	p.set(func(p *provider) {
		p.body = jwttest.JWKS(keys.JWK("RS256", "old", true), keys.JWK("ES256", "new", true))
	})
	start := time.Now()
	if s.Key([]byte("new"), jose.AlgUnknown) != nil {
		t.Fatal("new kid known before any refetch")
	}
	if d := time.Since(start); d > 10*time.Millisecond {
		t.Errorf("unknown-kid lookup took %v", d)
	}
	eventually(t, "the new kid", func() bool { return s.Key([]byte("new"), jose.AlgUnknown) != nil })
	if k := s.Key([]byte("old"), jose.AlgUnknown); k != oldKey || !s.Has(oldKey) {
		t.Error("an unchanged key must keep its identity across refreshes")
	}
	// The old key is withdrawn: Has turns false after the next refetch.
	p.set(func(p *provider) { p.body = jwttest.JWKS(keys.JWK("ES256", "new", true)) })
	s.Key([]byte("trigger"), jose.AlgUnknown)
	eventually(t, "the old key to be withdrawn", func() bool { return !s.Has(oldKey) })
}

// TestUnknownKidFlood: thousands of forged kids cost at most one fetch per
// UnknownKidInterval.
func TestUnknownKidFlood(t *testing.T) {
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "a", true)))
	s := startSet(t, Options{Issuer: p.srv.URL, URI: p.srv.URL + "/jwks", UnknownKidInterval: time.Hour})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if s.Key([]byte("forged-"+strconv.Itoa(g*10000+i)), jose.AlgUnknown) != nil {
					t.Error("forged kid found")
				}
			}
		}(g)
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond)
	if n := p.jwksHits.Load(); n != 1 {
		t.Errorf("interval 1h: %d fetches for 16000 forged kids, want 1", n)
	}
	if st := s.Stats(); st.UnknownKids != 16000 {
		t.Errorf("unknown kids counted %d", st.UnknownKids)
	}

	// With a short interval the count is bounded by elapsed/interval.
	p2 := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "a", true)))
	const interval = 50 * time.Millisecond
	s2 := startSet(t, Options{Issuer: p2.srv.URL, URI: p2.srv.URL + "/jwks", UnknownKidInterval: interval})
	start := time.Now()
	for time.Since(start) < 500*time.Millisecond {
		s2.Key([]byte("forged"), jose.AlgUnknown)
	}
	elapsed := time.Since(start)
	max := int64(elapsed/interval) + 2 // the first fetch and rounding
	if n := p2.jwksHits.Load(); n > max || n < 2 {
		t.Errorf("%v of flood at interval %v: %d fetches, want 2..%d", elapsed, interval, n, max)
	}
}

// TestProviderDown: after the provider fails, the last good keys keep
// serving and failures are retried with backoff.
func TestProviderDown(t *testing.T) {
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "a", true)))
	s := startSet(t, Options{Issuer: p.srv.URL, URI: p.srv.URL + "/jwks", UnknownKidInterval: time.Millisecond})
	for _, broken := range []func(p *provider){
		func(p *provider) { p.status = 500 },
		func(p *provider) { p.status, p.body = 200, []byte(`not json`) },
		func(p *provider) { p.status, p.body = 200, jwttest.JWKS() },
		func(p *provider) {
			p.status, p.body = 200, []byte(`{"keys":[{"kty":"oct","k":"AAAA","alg":"HS256","kid":"a"}]}`)
		},
	} {
		p.set(broken)
		before := s.Stats().FetchErrors
		s.Key([]byte("other"), jose.AlgUnknown)
		eventually(t, "a failed refetch", func() bool { return s.Stats().FetchErrors > before })
		if k := s.Key([]byte("a"), jose.AlgUnknown); k == nil || k.Alg != jose.RS256 {
			t.Fatalf("known key lost after a failed refetch: %v", k)
		}
	}
	p.srv.Close() // connection refused
	before := s.Stats().FetchErrors
	s.Key([]byte("other"), jose.AlgUnknown)
	eventually(t, "a failed refetch", func() bool { return s.Stats().FetchErrors > before })
	if s.Key([]byte("a"), jose.AlgUnknown) == nil {
		t.Fatal("known key lost with the provider gone")
	}
}

// TestSlowProvider: while a refetch hangs on a slow provider, lookups of
// known keys return at once.
func TestSlowProvider(t *testing.T) {
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "a", true)))
	s := startSet(t, Options{Issuer: p.srv.URL, URI: p.srv.URL + "/jwks", UnknownKidInterval: time.Millisecond, Timeout: 3 * time.Second})
	p.set(func(p *provider) { p.delay = 2 * time.Second })
	s.Key([]byte("unknown"), jose.AlgUnknown) // starts the slow refetch
	eventually(t, "the slow refetch to start", func() bool { return p.jwksHits.Load() == 2 })
	var worst time.Duration
	for i := 0; i < 1000; i++ {
		start := time.Now()
		k := s.Key([]byte("a"), jose.AlgUnknown)
		if d := time.Since(start); d > worst {
			worst = d
		}
		if k == nil {
			t.Fatal("known key missing during a slow refetch")
		}
		if s.Key([]byte("unknown2"), jose.AlgUnknown) != nil {
			t.Fatal("unknown kid found")
		}
	}
	if worst > 20*time.Millisecond {
		t.Errorf("a lookup took %v during a slow refetch", worst)
	}
	start := time.Now()
	s.Close() // does not wait for the in-flight fetch
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Close took %v", d)
	}
}

func TestCacheControlBounds(t *testing.T) {
	s := New(Options{MinRefresh: time.Minute, MaxRefresh: time.Hour})
	for cc, want := range map[string]time.Duration{
		"":                          time.Hour,
		"max-age=120":               2 * time.Minute,
		"public, max-age=5":         time.Minute,
		"max-age=999999":            time.Hour,
		"no-cache":                  time.Minute,
		"no-store, max-age=600":     time.Minute,
		`private, max-age="300"`:    5 * time.Minute,
		"max-age=-1":                time.Hour,
		"s-maxage=10, max-age=1800": 30 * time.Minute,
	} {
		if got := s.lifetime([]byte(cc)); got != want {
			t.Errorf("%q: %v, want %v", cc, got, want)
		}
	}
	// max-age=0 from the provider: refreshes are still spaced by MinRefresh.
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "a", true)))
	p.set(func(p *provider) { p.cacheControl = "max-age=0" })
	startSet(t, Options{Issuer: p.srv.URL, URI: p.srv.URL + "/jwks", MinRefresh: 100 * time.Millisecond})
	time.Sleep(550 * time.Millisecond)
	if n := p.jwksHits.Load(); n < 3 || n > 8 {
		t.Errorf("max-age=0 with min 100ms: %d fetches in 550ms", n)
	}
}

func TestDiscovery(t *testing.T) {
	p := newProvider(t, jwttest.JWKS(keys.JWK("PS256", "a", true)))
	s := startSet(t, Options{Issuer: p.srv.URL})
	if k := s.Key([]byte("a"), jose.AlgUnknown); k == nil || k.Alg != jose.PS256 {
		t.Fatalf("discovered key: %v", k)
	}
	// A discovery document that names another issuer is refused.
	p2 := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "a", true)))
	p2.set(func(p *provider) { p.discovery = "https://evil.example" })
	s2 := New(Options{Issuer: p2.srv.URL})
	s2.Acquire()
	defer s2.Close()
	eventually(t, "a failed discovery", func() bool { return s2.Stats().FetchErrors > 0 })
	if s2.Key([]byte("a"), jose.AlgUnknown) != nil || p2.jwksHits.Load() != 0 {
		t.Error("keys fetched through a discovery document for another issuer")
	}
}

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{"https://idp.example/jwks", "http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x"} {
		if err := CheckURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://idp.example/jwks", "ftp://x/y", "/relative", "https://", "http://10.0.0.1/x"} {
		if CheckURL(bad) == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestLifecycle(t *testing.T) {
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "a", true)))
	s := New(Options{Issuer: p.srv.URL, URI: p.srv.URL + "/jwks"})
	s.Acquire() // config 1
	<-s.Ready()
	s.Acquire() // config 2 built before config 1 is closed
	s.Release() // config 1 closed
	if !s.Running() {
		t.Fatal("stopped while a user remains")
	}
	s.Release()
	if s.Running() {
		t.Fatal("still running without users")
	}
	if s.Key([]byte("a"), jose.AlgUnknown) == nil {
		t.Fatal("keys lost when stopped")
	}
	s.Acquire()
	if !s.Running() {
		t.Fatal("not restarted")
	}
	s.Close()
	s.Close()
	if s.Running() {
		t.Fatal("running after Close")
	}
}
