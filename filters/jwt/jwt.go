package jwt

import (
	"bytes"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/jwt/jose"
	"github.com/edgeguard/edgeguard/filters/jwt/jwks"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

func init() {
	filters.Register(&filters.Plugin{Name: "jwt", New: New})
}

// Upstream identity headers (Kong's names). Client-sent copies are always
// removed before the filter decides anything.
const (
	hdrConsumerID = "X-Consumer-ID"
	hdrCustomID   = "X-Consumer-Custom-ID"
	hdrUsername   = "X-Consumer-Username"
	hdrCredential = "X-Credential-Identifier"
	hdrAnonymous  = "X-Anonymous-Consumer"
)

// identityHeaders holds them in canonical form, in this order.
var identityHeaders = filters.NewHeaderNames(hdrConsumerID, hdrCustomID, hdrUsername, hdrCredential, hdrAnonymous)

const (
	iConsumerID = iota
	iCustomID
	iUsername
	iCredential
	iAnonymous
)

// Filter is one jwt plugin instance. It is safe for concurrent use. Close it
// when the config that built it is retired (see Close).
type Filter struct {
	s         *settings
	consumers map[string]*filters.Consumer
	issuers   []*issuer
	cache     *tokenCache
	bodies    *bodies
	clock     func() time.Time // nil: the request's start (see now)

	metricsSet         *metrics.Set
	rejected           [numReasons]*metrics.Counter
	hits, misses, anon *metrics.Counter
	closed             atomic.Bool
}

type issuer struct {
	name          string
	set           *jwks.Set
	consumer      *filters.Consumer
	consumerClaim string
}

// New is the plugin's constructor (filters.Plugin.New): it decodes and
// checks cfg, builds the consumers' keys, acquires the shared JWKS key sets
// of the configured issuers (waiting up to jwks.startup_wait for new ones)
// and creates the verified-token cache. Use filtertest.Build(env, "jwt",
// yaml) in tests.
func New(cfg confnode.Node, env *filters.Env) (filters.Filter, error) {
	s, ok := check(cfg, env)
	if !ok {
		return nil, nil
	}
	f := &Filter{s: s, consumers: env.Consumers, bodies: buildBodies(s), metricsSet: env.Metrics}
	var fresh []*jwks.Set
	for _, is := range s.issuers {
		opts := s.jwks
		opts.Issuer, opts.URI, opts.JWK = is.cfg.Issuer, is.cfg.JWKSURI, is.jwk
		created := false
		v := env.Shared.Get(is.sharedKey, func() any {
			created = true
			return jwks.New(opts)
		})
		set := v.(*jwks.Set)
		set.Acquire()
		if created {
			fresh = append(fresh, set)
		}
		f.issuers = append(f.issuers, &issuer{name: is.cfg.Issuer, set: set, consumer: is.consumer, consumerClaim: is.cfg.ConsumerClaim})
	}
	if len(fresh) > 0 && s.startupWait > 0 {
		deadline := time.NewTimer(s.startupWait)
	wait:
		for _, set := range fresh {
			select {
			case <-set.Ready():
			case <-deadline.C:
				env.Logger.Warn("jwt: JWKS not fetched yet; tokens of this issuer are rejected until it is", "plugin", env.InstanceName, "issuer", set.Issuer())
				break wait
			}
		}
		deadline.Stop()
	}
	if s.cacheSize > 0 {
		var err error
		if f.cache, err = newTokenCache(s.cacheSize, s.cacheMaxTTL); err != nil {
			f.Close()
			return nil, err
		}
	}
	f.registerMetrics(env.Metrics, env.InstanceName)
	return f, nil
}

// Close releases the filter's JWKS key sets (their refresh goroutine stops
// when no filter of any live config holds them) and its token cache. Call
// it once the filter's config is retired and no request uses it any more;
// requests still running are safe (they miss the cache). It implements
// io.Closer and is idempotent.
func (f *Filter) Close() error {
	if f.closed.Swap(true) {
		return nil
	}
	for _, is := range f.issuers {
		is.set.Release()
	}
	f.cache.close()
	return nil
}

// Access authenticates the request. See the package doc for the order of
// checks; every rejection is 401 with Kong's body.
func (f *Filter) Access(c *filters.Ctx) filters.Verdict {
	rc := c.RC
	if f.s.anonymous != nil && c.Credential != "" {
		return filters.Continue // already authenticated by an earlier plugin (Kong)
	}
	h := &rc.Request.Header
	identityHeaders.Del(h, 0)
	if !f.s.runOnPreflight && rc.IsOptions() {
		return filters.Continue
	}
	tok, n := f.findToken(rc)
	switch {
	case n == 0:
		if f.s.anonymous != nil {
			if f.anon != nil {
				f.anon.Inc()
			}
			setIdentity(h, f.s.anonymous, "", true)
			c.Consumer = f.s.anonymous
			return filters.Continue
		}
		return f.reject(c, rNoToken, nil)
	case n > 1:
		return f.reject(c, rMultiple, nil)
	case len(tok) > f.s.maxTokenSize:
		return f.reject(c, rBadToken, nil)
	}
	now := f.now(c)
	if e := f.cache.get(tok); e != nil && f.stillValid(e, now) {
		if f.hits != nil {
			f.hits.Inc()
		}
		return f.accept(c, e)
	}
	e, r, body := f.verify(c, tok, now)
	if e == nil {
		return f.reject(c, r, body)
	}
	if f.misses != nil {
		f.misses.Inc()
	}
	return f.accept(c, e)
}

// now is the time tokens are checked at, in Unix seconds: the request's
// start, which the gateway read once for everything on the request (the
// rate limiter decides at it too), or the clock a test set.
func (f *Filter) now(c *filters.Ctx) int64 {
	if f.clock != nil {
		return f.clock().Unix()
	}
	if c.Start.IsZero() {
		return time.Now().Unix()
	}
	return c.Start.Unix()
}

func (f *Filter) accept(c *filters.Ctx, e *entry) filters.Verdict {
	c.Consumer, c.Credential, c.Claims = e.consumer, e.credential, e
	setIdentity(&c.RC.Request.Header, e.consumer, e.credential, false)
	return filters.Continue
}

func setIdentity(h *fasthttp.RequestHeader, co *filters.Consumer, credential string, anonymous bool) {
	if co != nil {
		if co.ID != "" {
			identityHeaders.Set(h, iConsumerID, co.ID)
		}
		if co.CustomID != "" {
			identityHeaders.Set(h, iCustomID, co.CustomID)
		}
		if co.Username != "" {
			identityHeaders.Set(h, iUsername, co.Username)
		}
	}
	if credential != "" {
		identityHeaders.Set(h, iCredential, credential)
	}
	if anonymous {
		identityHeaders.Set(h, iAnonymous, "true")
	}
}

// stillValid re-checks what can change after a token was verified: time,
// and (for JWKS issuers) whether the provider still publishes the key.
func (f *Filter) stillValid(e *entry, now int64) bool {
	if e.hasExp && e.exp+f.s.leeway <= now {
		return false
	}
	if e.hasNbf && e.nbf-f.s.leeway > now {
		return false
	}
	return e.iss == nil || e.iss.set.Has(e.key)
}

// findToken collects the tokens of the configured sources. n is 0 (none),
// 1 (tok is the token; identical copies count once, as in Kong) or 2 (two
// different tokens).
func (f *Filter) findToken(rc *fasthttp.RequestCtx) (tok []byte, n int) {
	// One pass over the headers (PeekAll per name would re-normalise it).
	for k, v := range rc.Request.Header.All() {
		if f.s.headerNames.Has(k) {
			if t := bearer(v); len(t) > 0 {
				tok, n = addToken(tok, n, t)
			}
		}
	}
	// Every cookie of a configured name counts, from every Cookie line
	// (Cookie(name) would return only the first: "jwt=a; jwt=b" must not
	// pass as a while a proxy or backend reads b).
	if len(f.s.cookies) > 0 {
		for k, v := range rc.Request.Header.Cookies() {
			if len(v) == 0 {
				continue
			}
			for _, name := range f.s.cookies {
				if string(k) == name {
					tok, n = addToken(tok, n, v)
					break
				}
			}
		}
	}
	// The URI is parsed only when the request line has a query (the
	// gateway keeps it in step with any URI a filter edited).
	if len(f.s.uriParams) > 0 && bytes.IndexByte(rc.Request.Header.RequestURI(), '?') >= 0 {
		for k, v := range filters.URI(rc).QueryArgs().All() {
			if len(v) == 0 {
				continue
			}
			for _, name := range f.s.uriParams {
				if string(k) == name {
					tok, n = addToken(tok, n, v)
					break
				}
			}
		}
	}
	return tok, n
}

func addToken(tok []byte, n int, t []byte) ([]byte, int) {
	switch {
	case n == 0:
		return t, 1
	case bytes.Equal(tok, t):
		return tok, n
	}
	return tok, 2
}

// bearer returns the token of an Authorization-style value "Bearer <token>"
// (scheme case-insensitive, RFC 7235 §2.1), or nil.
func bearer(v []byte) []byte {
	i := 0
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	if len(v)-i < 8 || v[i+6] != ' ' && v[i+6] != '\t' {
		return nil
	}
	for j, c := range []byte("bearer") {
		if v[i+j]|0x20 != c {
			return nil
		}
	}
	i += 7
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	j := len(v)
	for j > i && (v[j-1] == ' ' || v[j-1] == '\t') {
		j--
	}
	return v[i:j]
}

// verify checks a token that is not in the cache. On success it returns the
// new cache entry (already stored); otherwise the reason and, for claim
// errors, the body.
func (f *Filter) verify(c *filters.Ctx, raw []byte, now int64) (*entry, reason, []byte) {
	var t jose.Token
	buf, err := jose.Parse(&t, raw, c.Scratch[:0])
	c.Scratch = buf[:0]
	switch err {
	case nil:
	case jose.ErrHeader:
		return nil, rBadJSON, nil
	case jose.ErrTyp:
		return nil, rBadTyp, nil
	case jose.ErrUnknownAlg:
		return nil, rBadAlg, nil
	case jose.ErrKid:
		return nil, rBadKid, nil
	default: // format, size, crit
		return nil, rBadToken, nil
	}
	if jose.ValidObject(t.Payload) != nil {
		return nil, rBadJSON, nil
	}
	var cl claimScan
	cl.scan(t.Payload, f.s.keyClaim)

	// Key selection: a configured JWKS issuer by iss, else a consumer
	// credential by key_claim_name (claim first, then header, as Kong).
	e := &entry{}
	var key *jose.Key
	if cl.issKind == jose.String {
		for _, is := range f.issuers {
			if jose.StringEqual(cl.iss, is.name) {
				e.iss = is
				break
			}
		}
	}
	if e.iss != nil {
		var kb [128]byte
		var kid []byte
		if t.Kid != nil {
			kid = jose.AppendString(kb[:0], t.Kid)
			if len(kid) == 0 {
				return nil, rUnknownKid, nil
			}
		}
		if key = e.iss.set.Key(kid, t.Alg); key == nil {
			return nil, rUnknownKid, nil
		}
		e.key = key
	} else {
		v, k := cl.keyClaim, cl.keyClaimKind
		if k == jose.Invalid || k == jose.Null {
			v, k = jose.Member(t.Header, f.s.keyClaim)
		}
		switch k {
		case jose.String:
		case jose.Invalid, jose.Null:
			return nil, rNoKeyClaim, nil
		default:
			return nil, rBadKeyClaim, nil
		}
		var kb [256]byte
		cred := f.s.creds[string(jose.AppendString(kb[:0], v))]
		if cred == nil {
			return nil, rNoCredential, nil
		}
		key, e.consumer, e.credential = cred.key, cred.consumer, cred.name
	}
	if t.Alg != key.Alg {
		return nil, rAlgorithm, nil
	}
	if key.Verify(&t) != nil {
		return nil, rSignature, nil
	}

	// Registered claims: present ones are always checked, listed ones are
	// required.
	expState, nbfState := cOK, cOK
	switch cl.expKind {
	case jose.Invalid:
		if f.s.requireExp {
			expState = cNotNumber
		}
	case jose.Number:
		if e.exp, e.hasExp = numericDate(cl.exp); !e.hasExp {
			expState = cNotNumber
		} else if e.exp+f.s.leeway <= now {
			expState = cFailed
		}
	default:
		expState = cNotNumber
	}
	switch cl.nbfKind {
	case jose.Invalid:
		if f.s.requireNbf {
			nbfState = cNotNumber
		}
	case jose.Number:
		if e.nbf, e.hasNbf = numericDate(cl.nbf); !e.hasNbf {
			nbfState = cNotNumber
		} else if e.nbf-f.s.leeway > now {
			nbfState = cFailed
		}
	default:
		nbfState = cNotNumber
	}
	if expState != cOK || nbfState != cOK {
		r := rClaimType
		if expState == cFailed {
			r = rExpired
		} else if nbfState == cFailed {
			r = rNotYetValid
		}
		return nil, r, f.bodies.claims[expState][nbfState]
	}
	if f.s.maxExp > 0 && (!e.hasExp || e.exp-now > f.s.maxExp) {
		return nil, rMaxExp, nil
	}
	if len(f.s.allowedIssuers) > 0 && !cl.issIn(f.s.allowedIssuers) {
		return nil, rIssuer, nil
	}
	if len(f.s.audience) > 0 && !audienceMatches(cl.aud, cl.audKind, f.s.audience) {
		return nil, rAudience, nil
	}
	for i, name := range f.s.required {
		if _, k := jose.Lookup(t.Payload, name); k == jose.Invalid || k == jose.Null {
			return nil, rRequired, f.bodies.required[i]
		}
	}

	if is := e.iss; is != nil {
		e.consumer = is.consumer
		if is.consumerClaim != "" {
			if v, k := jose.Lookup(t.Payload, is.consumerClaim); k == jose.String {
				var nb [256]byte
				if co := f.consumers[string(jose.AppendString(nb[:0], v))]; co != nil {
					e.consumer = co
				}
			}
		}
		e.credential = key.ID
		if e.credential == "" {
			e.credential = is.name
		}
	}
	data := make([]byte, len(raw)+len(t.Payload))
	copy(data, raw)
	copy(data[len(raw):], t.Payload)
	e.token, e.claims = data[:len(raw):len(raw)], data[len(raw):]
	e.members = jose.NewIndex(e.claims)
	ttl := f.s.cacheMaxTTL
	if e.hasExp {
		ttl = min(ttl, time.Duration(e.exp+f.s.leeway-now)*time.Second)
	}
	f.cache.set(e, ttl)
	return e, 0, nil
}

// numericDate reads a NumericDate (RFC 7519 §2) as whole seconds rounded
// up, which keeps Kong's comparisons (exp <= now, nbf > now) exact for
// fractional values at a whole-second clock.
func numericDate(raw []byte) (int64, bool) {
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n, n > -1<<53 && n < 1<<53
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || v < -1<<53 || v > 1<<53 {
		return 0, false
	}
	return int64(math.Ceil(v)), true
}

func audienceMatches(raw []byte, k jose.Kind, allowed []string) bool {
	match := func(v []byte) bool {
		for _, a := range allowed {
			if jose.StringEqual(v, a) {
				return true
			}
		}
		return false
	}
	switch k {
	case jose.String:
		return match(raw)
	case jose.Array:
		var it jose.Elements
		for it.Reset(raw); it.Next(); {
			if it.Kind == jose.String && match(it.Value) {
				return true
			}
		}
	}
	return false
}

// claimScan holds the raw registered claims a verification needs, found in
// one pass over the payload.
type claimScan struct {
	exp, nbf, iss, aud, keyClaim                     []byte
	expKind, nbfKind, issKind, audKind, keyClaimKind jose.Kind
}

func (cl *claimScan) scan(payload []byte, keyClaim string) {
	var it jose.Members
	for it.Reset(payload); it.Next(); {
		switch {
		case jose.StringEqual(it.Name, "exp"):
			cl.exp, cl.expKind = it.Value, it.Kind
		case jose.StringEqual(it.Name, "nbf"):
			cl.nbf, cl.nbfKind = it.Value, it.Kind
		case jose.StringEqual(it.Name, "aud"):
			cl.aud, cl.audKind = it.Value, it.Kind
		}
		if jose.StringEqual(it.Name, "iss") {
			cl.iss, cl.issKind = it.Value, it.Kind
		}
		if jose.StringEqual(it.Name, keyClaim) {
			cl.keyClaim, cl.keyClaimKind = it.Value, it.Kind
		}
	}
}

func (cl *claimScan) issIn(allowed []string) bool {
	if cl.issKind != jose.String {
		return false
	}
	for _, a := range allowed {
		if jose.StringEqual(cl.iss, a) {
			return true
		}
	}
	return false
}

var _ filters.Filter = (*Filter)(nil)
