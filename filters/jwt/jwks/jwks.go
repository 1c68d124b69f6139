// Package jwks keeps the signing keys of one identity provider: a JWK Set
// fetched from a jwks_uri (or found through OpenID Connect discovery from the
// issuer URL), held in an immutable key map that is swapped atomically, and
// refreshed by one background goroutine.
//
// The request path only ever loads the current map (Key, Has): it never
// waits on the network and never locks. When a token names a kid the map
// does not have, Key reports it missing at once and asks the goroutine for
// a refetch; the goroutine fetches at most once per UnknownKidInterval, so a
// flood of forged kids costs the provider one request per interval. The
// request that saw the unknown kid is rejected, as is every request with
// that kid until the refetch has landed (typically milliseconds later);
// blocking it instead would let any client make requests wait on the
// provider.
//
// Keys are replaced only by a successful fetch of a JWK Set with at least
// one usable key: while the provider is down, slow or serving garbage, the
// last good keys keep serving, forever. Refresh times follow the response's
// Cache-Control max-age, bounded by MinRefresh and MaxRefresh; the refetch
// is scheduled at 90% of that lifetime so keys are renewed before they go
// stale. Failed fetches are retried with exponential backoff (1 s doubling,
// capped at MinRefresh, with jitter).
//
// A Set is shared by the jwt filters of successive configs (through
// filters.Env.Shared): filters Acquire it when built and Release it when
// closed, and the goroutine runs while at least one holds it. Close stops it
// regardless (shutdown); a later Acquire starts it again with the keys it
// had.
package jwks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters/jwt/jose"
)

// Doer sends one HTTP request with a timeout; *fasthttp.Client is one.
type Doer interface {
	DoTimeout(req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) error
}

// Options configure a Set. Zero durations take the defaults below.
type Options struct {
	// Issuer is the provider's issuer identifier (the "iss" of its tokens).
	Issuer string
	// URI is the jwks_uri. When empty it is discovered from
	// Issuer + "/.well-known/openid-configuration"; the discovery document's
	// "issuer" must equal Issuer exactly (OpenID Connect Discovery §4.3).
	URI string
	// MinRefresh and MaxRefresh bound the lifetime taken from Cache-Control
	// max-age (defaults 5m and 24h); without max-age the lifetime is 1h.
	MinRefresh, MaxRefresh time.Duration
	// UnknownKidInterval is the least time between two fetches caused by
	// unknown kids (default 30s).
	UnknownKidInterval time.Duration
	// Timeout bounds each HTTP request (default 5s).
	Timeout time.Duration
	// MaxBodySize bounds a response body (default 1 MiB).
	MaxBodySize int
	// JWK says how keys without "alg" are bound and which algorithms are
	// allowed; symmetric keys are always refused.
	JWK jose.JWKOptions
	// Client does the requests (default: a fasthttp.Client that verifies
	// TLS and follows no redirects).
	Client Doer
	// Logger gets fetch failures and skipped keys (default: discard).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.MinRefresh, 5*time.Minute)
	def(&o.MaxRefresh, 24*time.Hour)
	if o.MaxRefresh < o.MinRefresh {
		o.MaxRefresh = o.MinRefresh
	}
	def(&o.UnknownKidInterval, 30*time.Second)
	def(&o.Timeout, 5*time.Second)
	if o.MaxBodySize <= 0 {
		o.MaxBodySize = 1 << 20
	}
	o.JWK.AllowSymmetric = false
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// CheckURL reports whether u may be used as an issuer or JWKS URL: https,
// or http only to a loopback host (for tests and sidecars).
func CheckURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return fmt.Errorf("jwks: %q is not an absolute URL", u)
	}
	switch p.Scheme {
	case "https":
		return nil
	case "http":
		h := p.Hostname()
		if h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1" {
			return nil
		}
		return fmt.Errorf("jwks: %q must use https (http is allowed only to loopback)", u)
	}
	return fmt.Errorf("jwks: %q must use https", u)
}

// keyMap is one immutable generation of keys.
type keyMap struct {
	// byKid holds the keys of each kid in set order, at most one per
	// algorithm (RFC 7517 §4.5 lets keys of different types share a kid).
	byKid map[string][]*jose.Key
	// all holds every key, with or without a kid; a token without kid is
	// verified only when the set has exactly one key.
	all []*jose.Key
}

// Stats are counters of a Set, for metrics.
type Stats struct {
	Fetches, FetchErrors, UnknownKids uint64
	Keys                              int
	LastSuccess                       time.Time
}

// Set is the key set of one provider. Key and Has are safe for concurrent
// use and never block; see the package doc for the lifecycle.
type Set struct {
	opt   Options
	keys  atomic.Pointer[keyMap]
	kick  chan struct{}
	ready chan struct{}

	fetches, fetchErrors, unknownKids atomic.Uint64
	lastSuccess                       atomic.Int64 // unix nanoseconds

	swapMu  sync.Mutex
	mu      sync.Mutex
	refs    int
	stop    chan struct{}
	done    chan struct{}
	readyOK bool
	jwksURI string // discovered or configured
}

// New returns a Set that is not yet running; Acquire starts it.
func New(opt Options) *Set {
	opt.defaults()
	if opt.Client == nil {
		opt.Client = &fasthttp.Client{
			Name:                     "edgeguard-jwks",
			MaxResponseBodySize:      opt.MaxBodySize,
			ReadTimeout:              opt.Timeout,
			WriteTimeout:             opt.Timeout,
			MaxConnsPerHost:          2,
			MaxIdleConnDuration:      time.Minute,
			NoDefaultUserAgentHeader: true,
		}
	}
	s := &Set{opt: opt, kick: make(chan struct{}, 1), ready: make(chan struct{}), jwksURI: opt.URI}
	s.keys.Store(&keyMap{byKid: map[string][]*jose.Key{}})
	return s
}

// Issuer returns the issuer the set belongs to.
func (s *Set) Issuer() string { return s.opt.Issuer }

// Key returns the key with the given kid (raw bytes, already decoded)
// that is bound to alg, else the first key with that kid (whose algorithm
// the caller then finds wrong); for an empty kid, the only key of the set.
// The token's alg only picks among keys sharing a kid: each key still
// verifies its own algorithm alone. A miss asks for a refetch (without
// waiting for it) and returns nil.
func (s *Set) Key(kid []byte, alg jose.Alg) *jose.Key {
	m := s.keys.Load()
	if len(kid) == 0 {
		if len(m.all) == 1 {
			return m.all[0]
		}
		return nil
	}
	if ks := m.byKid[string(kid)]; len(ks) > 0 {
		for _, k := range ks[1:] {
			if k.Alg == alg {
				return k
			}
		}
		return ks[0]
	}
	s.unknownKids.Add(1)
	select {
	case s.kick <- struct{}{}:
	default: // a refetch is already asked for
	}
	return nil
}

// Has reports whether k is still one of the set's current keys (cached
// verifications check this so a key the provider withdrew stops working).
func (s *Set) Has(k *jose.Key) bool {
	m := s.keys.Load()
	if k.ID != "" {
		for _, o := range m.byKid[k.ID] {
			if o == k {
				return true
			}
		}
		return false
	}
	return len(m.all) == 1 && m.all[0] == k
}

// Ready is closed after the first successful fetch.
func (s *Set) Ready() <-chan struct{} { return s.ready }

// Stats returns the set's counters.
func (s *Set) Stats() Stats {
	st := Stats{
		Fetches: s.fetches.Load(), FetchErrors: s.fetchErrors.Load(), UnknownKids: s.unknownKids.Load(),
		Keys: len(s.keys.Load().all),
	}
	if ns := s.lastSuccess.Load(); ns != 0 {
		st.LastSuccess = time.Unix(0, ns)
	}
	return st
}

// Acquire registers a user of the set and starts its goroutine if needed.
func (s *Set) Acquire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs++
	if s.stop == nil {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.run(s.stop, s.done)
	}
}

// Release drops a user; the goroutine stops with the last one.
func (s *Set) Release() {
	s.mu.Lock()
	if s.refs > 0 {
		s.refs--
	}
	last := s.refs == 0
	s.mu.Unlock()
	if last {
		s.halt()
	}
}

// Close stops the goroutine whatever the number of users and waits for it;
// it does not wait for an in-flight fetch (which ends by itself within
// Timeout). It implements io.Closer and is idempotent.
func (s *Set) Close() error {
	s.mu.Lock()
	s.refs = 0
	s.mu.Unlock()
	s.halt()
	return nil
}

func (s *Set) halt() {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop, s.done = nil, nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// Running reports whether the goroutine is running.
func (s *Set) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stop != nil
}

func (s *Set) run(stop, done chan struct{}) {
	defer close(done)
	timer := time.NewTimer(0) // first fetch at once
	defer timer.Stop()
	var (
		deadline  = time.Now()
		lastFetch time.Time
		backoff   time.Duration
	)
	for {
		select {
		case <-stop:
			return
		case <-timer.C:
		case <-s.kick:
			// Unknown kid: fetch now unless the last fetch is too recent; then
			// fetch when the interval is over (if nothing sooner is planned).
			if next := lastFetch.Add(s.opt.UnknownKidInterval); time.Now().Before(next) {
				if next.Before(deadline) {
					deadline = next
					timer.Reset(time.Until(next))
				}
				continue
			}
		}
		lastFetch = time.Now()
		// The fetch runs on its own goroutine so that Close never waits for a
		// slow provider; an abandoned fetch ends by itself within Timeout.
		res := make(chan fetchResult, 1)
		go func() {
			ttl, err := s.fetch()
			res <- fetchResult{ttl, err}
		}()
		var r fetchResult
		select {
		case <-stop:
			return
		case r = <-res:
		}
		ttl, err := r.ttl, r.err
		if err != nil {
			s.fetchErrors.Add(1)
			backoff = min(max(2*backoff, time.Second), s.opt.MinRefresh)
			ttl = backoff
			s.opt.Logger.Warn("jwt: cannot refresh JWKS; the last good keys stay in use",
				"issuer", s.opt.Issuer, "error", err, "retry_in", backoff.Round(time.Millisecond))
		} else {
			backoff = 0
			ttl -= ttl / 10 // renew before the lifetime ends
		}
		ttl = jitter(ttl)
		deadline = time.Now().Add(ttl)
		timer.Reset(ttl)
	}
}

type fetchResult struct {
	ttl time.Duration
	err error
}

func jitter(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d
	}
	return d - time.Duration(rand.Int64N(int64(d/20)+1)) // up to 5% earlier
}

// fetch gets the key set (discovering the URI first if needed) and swaps it
// in; it returns the lifetime to use.
func (s *Set) fetch() (time.Duration, error) {
	s.fetches.Add(1)
	s.mu.Lock()
	uri := s.jwksURI
	s.mu.Unlock()
	if uri == "" {
		var err error
		if uri, err = s.discover(); err != nil {
			return 0, err
		}
	}
	body, cacheControl, err := s.get(uri)
	if err != nil {
		if s.opt.URI == "" {
			s.mu.Lock()
			s.jwksURI = "" // rediscover next time
			s.mu.Unlock()
		}
		return 0, err
	}
	keys, skipped, err := jose.ParseJWKSet(body, s.opt.JWK)
	if err != nil {
		return 0, err
	}
	// Keys sharing a kid are kept when their algorithms differ (the token's
	// alg picks one); of two with the same kid and algorithm the first
	// wins and the other is skipped like an unusable key.
	m := &keyMap{byKid: make(map[string][]*jose.Key, len(keys)), all: make([]*jose.Key, 0, len(keys))}
next:
	for _, k := range keys {
		if k.ID != "" {
			for _, o := range m.byKid[k.ID] {
				if o.Alg == k.Alg {
					skipped = append(skipped, fmt.Errorf("jwks: another %s key has kid %q; the first one is used", k.Alg, k.ID))
					continue next
				}
			}
			m.byKid[k.ID] = append(m.byKid[k.ID], k)
		}
		m.all = append(m.all, k)
	}
	for _, e := range skipped {
		s.opt.Logger.Info("jwt: JWKS key skipped", "issuer", s.opt.Issuer, "reason", e)
	}
	if len(m.all) == 0 {
		return 0, errors.New("jwks: key set has no usable key")
	}
	// Keep the old *jose.Key for unchanged keys so verified-token cache
	// entries that point at them stay valid across refreshes. (Swaps are
	// serialised by swapMu: an abandoned fetch may still finish.)
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	old := s.keys.Load()
	for kid, ks := range m.byKid {
		for i, k := range ks {
			for _, o := range old.byKid[kid] {
				if !sameKey(o, k) {
					continue
				}
				ks[i] = o
				for j := range m.all {
					if m.all[j] == k {
						m.all[j] = o
					}
				}
			}
		}
	}
	s.keys.Store(m)
	s.lastSuccess.Store(time.Now().UnixNano())
	s.mu.Lock()
	if !s.readyOK {
		s.readyOK = true
		close(s.ready)
	}
	s.mu.Unlock()
	return s.lifetime(cacheControl), nil
}

func sameKey(a, b *jose.Key) bool { return a.Alg == b.Alg && a.ID == b.ID && a.Equal(b) }

// lifetime takes max-age from a Cache-Control value and bounds it.
func (s *Set) lifetime(cc []byte) time.Duration {
	d := time.Hour
	if age, ok := maxAge(cc); ok {
		d = time.Duration(age) * time.Second
	}
	return min(max(d, s.opt.MinRefresh), s.opt.MaxRefresh)
}

// maxAge returns the max-age directive of a Cache-Control value; no-store
// and no-cache count as 0.
func maxAge(cc []byte) (int64, bool) {
	age, found := int64(0), false
	for part := range bytes.SplitSeq(cc, []byte(",")) {
		part = bytes.TrimSpace(part)
		name, val, _ := bytes.Cut(part, []byte("="))
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "no-store", "no-cache":
			return 0, true
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(string(bytes.TrimSpace(val)), `"`), 10, 64)
			if err == nil && n >= 0 {
				age, found = min(n, 1<<30), true
			}
		}
	}
	return age, found
}

func (s *Set) get(uri string) (body, cacheControl []byte, err error) {
	if err := CheckURL(uri); err != nil {
		return nil, nil, err
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(uri)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	req.Header.Set("User-Agent", "edgeguard-jwks")
	if err := s.opt.Client.DoTimeout(req, resp, s.opt.Timeout); err != nil {
		return nil, nil, fmt.Errorf("jwks: GET %s: %w", uri, err)
	}
	if sc := resp.StatusCode(); sc != fasthttp.StatusOK {
		return nil, nil, fmt.Errorf("jwks: GET %s: status %d", uri, sc)
	}
	b := resp.Body()
	if len(b) > s.opt.MaxBodySize {
		return nil, nil, fmt.Errorf("jwks: GET %s: body larger than %d bytes", uri, s.opt.MaxBodySize)
	}
	return append([]byte(nil), b...), append([]byte(nil), resp.Header.Peek("Cache-Control")...), nil
}

func (s *Set) discover() (string, error) {
	well := strings.TrimSuffix(s.opt.Issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := s.get(well)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("jwks: discovery document %s: %w", well, err)
	}
	if doc.Issuer != s.opt.Issuer {
		return "", fmt.Errorf("jwks: discovery document %s names issuer %q, want %q", well, doc.Issuer, s.opt.Issuer)
	}
	if err := CheckURL(doc.JWKSURI); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.jwksURI = doc.JWKSURI
	s.mu.Unlock()
	return doc.JWKSURI, nil
}
