// Package ratelimit is the Kong-compatible `rate-limiting` plugin: it admits
// a request only if every configured window (second … year) of the caller's
// limits has a token, and answers 429 `{"message":"API rate limit exceeded"}`
// with Retry-After otherwise.
//
// The caller is identified as in Kong (limit_by consumer, credential, ip,
// header, path or service, falling back to the client IP when the identity
// is missing). The limits can depend on the caller's tier (tiers, taken from
// the consumer's tier or a JWT claim). Buckets live in the limiter engine
// (policy local, the default) or in Redis (policy redis), with this node's
// engine as the fallback when Redis is unavailable and fault_tolerant is on.
//
// The engine of an instance is kept in env.Shared under the instance name,
// so config reloads keep every client's state. Access decides and records the
// decision in the filter's Ctx.Local slot; Response writes the rate-limit
// headers onto the final response (the upstream response replaces anything
// set during Access). On the local policy neither phase allocates.
package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/limiter"
)

// RateLimit is one rate-limiting plugin instance. It is immutable after New
// and safe for concurrent use.
type RateLimit struct {
	name   string
	c      compiled
	engine *limiter.Engine
	tiers  []tier
	redis  *redisStore // nil unless policy redis

	rejected  *metrics.Counter
	fallbacks *metrics.Counter
	storeErrs *metrics.Counter
}

// tier is the compiled limits of one tier (or the only limits).
type tier struct {
	name string
	lim  *limiter.Limit
	n    int
	// per window of lim, in order (ascending period)
	slot     [limiter.MaxWindows]uint8
	limitVal [limiter.MaxWindows][]byte // pre-rendered X-RateLimit-Limit-* value
	redisArg []any                      // script arguments after n (redis policy)
}

// Header names as Kong writes them (RateLimit-Limit, X-RateLimit-Remaining-Minute),
// set with SetCanonical on a header that keeps names as set (see writeHeaders),
// so these are the bytes on the wire.
var (
	hdrLimit     [limiter.MaxWindows][]byte // X-RateLimit-Limit-<Window>
	hdrRemaining [limiter.MaxWindows][]byte // X-RateLimit-Remaining-<Window>
	hdrRLLimit   = []byte("RateLimit-Limit")
	hdrRLRemain  = []byte("RateLimit-Remaining")
	hdrRLReset   = []byte("RateLimit-Reset")
	hdrRetry     = []byte("Retry-After")
)

func init() {
	for w, t := range windowTitles {
		hdrLimit[w] = []byte("X-RateLimit-Limit-" + t)
		hdrRemaining[w] = []byte("X-RateLimit-Remaining-" + t)
	}
}

// engines lists every engine created, for the janitor.
var (
	enginesMu   sync.Mutex
	engines     []*limiter.Engine
	janitorOnce sync.Once
)

// SweepInterval is how often idle keys are swept from every engine.
const SweepInterval = time.Minute

func startJanitor() {
	janitorOnce.Do(func() {
		go func() {
			for range time.Tick(SweepInterval) {
				enginesMu.Lock()
				es := append([]*limiter.Engine(nil), engines...)
				enginesMu.Unlock()
				for _, e := range es {
					e.Sweep(time.Now())
				}
			}
		}()
	})
}

func build(c compiled, env *filters.Env) (filters.Filter, error) {
	f := &RateLimit{name: env.InstanceName, c: c}
	maxKeys := c.maxKeys
	if maxKeys == 0 {
		maxKeys = limiter.DefaultMaxKeys
	}
	// The engine outlives reloads: same instance name and key cap, same state.
	key := fmt.Sprintf("rate-limiting/engine/%s/%d", env.InstanceName, maxKeys)
	if c.policy == policyCluster {
		key += "/cluster" // tracks deltas for the sync
	}
	f.engine = env.Shared.Get(key, func() any {
		e := limiter.NewEngine(limiter.Config{MaxKeys: maxKeys, TrackDeltas: c.policy == policyCluster})
		enginesMu.Lock()
		engines = append(engines, e)
		enginesMu.Unlock()
		startJanitor()
		return e
	}).(*limiter.Engine)

	for i, name := range c.tierNames {
		t := tier{name: name}
		var ws []limiter.Window
		for w, v := range c.tierLimits[i] {
			if v == 0 {
				continue
			}
			ws = append(ws, limiter.Window{Slot: w, Period: windowPeriods[w], Limit: v})
			t.slot[t.n] = uint8(w)
			t.limitVal[t.n] = strconv.AppendInt(nil, v, 10)
			t.n++
		}
		lim, err := f.engine.NewLimit(name, ws...)
		if err != nil {
			return nil, fmt.Errorf("rate-limiting: %w", err)
		}
		t.lim = lim
		if c.policy == policyRedis {
			t.redisArg = redisArgs(ws)
		}
		f.tiers = append(f.tiers, t)
	}

	if c.policy == policyRedis {
		f.redis = sharedRedis(env, &c.redis)
	}
	if c.policy == policyCluster {
		node := clusterNode(env)
		if node == nil {
			return nil, fmt.Errorf("rate-limiting: policy cluster: cluster: is not configured")
		}
		// The instance name is the engine's name in the cluster: it must
		// be the same on every gateway (it is, with the same config).
		if err := node.RegisterEngine(env.InstanceName, f.engine); err != nil {
			return nil, fmt.Errorf("rate-limiting: %w", err)
		}
	}

	if env.Metrics != nil {
		lbl := fmt.Sprintf(`{plugin=%q}`, env.InstanceName)
		f.rejected = env.Metrics.GetOrCreateCounter("edgeguard_ratelimit_rejected_total" + lbl)
		f.fallbacks = env.Metrics.GetOrCreateCounter("edgeguard_ratelimit_fallback_total" + lbl)
		f.storeErrs = env.Metrics.GetOrCreateCounter("edgeguard_ratelimit_store_errors_total" + lbl)
		e := f.engine
		env.Metrics.GetOrCreateGauge("edgeguard_ratelimit_keys"+lbl, func() float64 { return float64(e.Stats().Keys) })
		env.Metrics.GetOrCreateGauge(fmt.Sprintf(`edgeguard_ratelimit_evictions{plugin=%q,kind="idle"}`, env.InstanceName),
			func() float64 { return float64(e.Stats().EvictedIdle) })
		env.Metrics.GetOrCreateGauge(fmt.Sprintf(`edgeguard_ratelimit_evictions{plugin=%q,kind="active"}`, env.InstanceName),
			func() float64 { return float64(e.Stats().EvictedActive) })
		if r := f.redis; r != nil {
			env.Metrics.GetOrCreateGauge("edgeguard_ratelimit_redis_breaker_open"+lbl, func() float64 {
				if r.br.isOpen() {
					return 1
				}
				return 0
			})
		}
	}
	return f, nil
}

// Engine returns the instance's limiter engine (for admin endpoints and the
// cluster sync layer).
func (f *RateLimit) Engine() *limiter.Engine { return f.engine }

// Local slot layout: N[0] = flags | tier<<8 | chosen window<<16 | reset s<<32;
// N[1..3] = remaining per window of the tier, two uint32 per int64.
const flagHeaders = 1

// Access decides the request.
func (f *RateLimit) Access(c *filters.Ctx) filters.Verdict {
	ti := f.pickTier(c)
	t := &f.tiers[ti]
	key := f.appendKey(c.Scratch[:0], c)
	c.Scratch = key

	// The request's start time (set by the gateway from the request) is
	// the decision time: exact, and no second clock read per request.
	now := c.Start
	if now.IsZero() {
		now = time.Now()
	}

	var d limiter.Decision
	var ok bool
	if f.redis != nil {
		var err error
		ok, err = f.redis.take(&d, f.name, key, t)
		if err != nil {
			if f.storeErrs != nil {
				f.storeErrs.Inc()
			}
			if !f.c.faultTol {
				return c.Reject(fasthttp.StatusInternalServerError, "ratelimit_store_error", "An unexpected error occurred")
			}
			if f.fallbacks != nil {
				f.fallbacks.Inc()
			}
			ok = f.engine.Take(&d, key, t.lim, 1, now)
		}
	} else {
		ok = f.engine.Take(&d, key, t.lim, 1, now)
	}

	if ok {
		if !f.c.hide {
			pack(c.Local(), ti, &d)
		}
		return filters.Continue
	}
	if f.rejected != nil {
		f.rejected.Inc()
	}
	if !f.c.hide {
		l := c.Local()
		pack(l, ti, &d)
		h := &c.RC.Response.Header
		f.writeHeaders(h, l)
		var buf [20]byte
		h.SetCanonical(hdrRetry, strconv.AppendInt(buf[:0], ceilSeconds(d.RetryAfter), 10))
	}
	// A bucket all clients share (path, service) may have been used up by
	// someone else: the abuse detector must not count this refusal
	// against the client.
	if k := key[0]; k == kindPath || k == kindService {
		c.SharedLimit = true
	}
	return c.Reject(f.c.errCode, "rate_limited", f.c.errMsg)
}

// Response writes the rate-limit headers of an admitted request.
func (f *RateLimit) Response(c *filters.Ctx) {
	l := c.Local()
	if l.N[0]&flagHeaders == 0 {
		return
	}
	f.writeHeaders(&c.RC.Response.Header, l)
}

// writeHeaders sets the rate-limit headers, named as Kong names them. An
// upstream response's header keeps names as received (the upstream client
// does not normalise them); a response made by the gateway (this filter's
// 429, or the gateway's own error after an admitted request) normalises
// names, and would store and send X-Ratelimit-Remaining-Minute and
// Ratelimit-Limit. So h stops normalising names first: the state a proxied
// response is in. fasthttp normalises again once the response is reset for
// the next request.
func (f *RateLimit) writeHeaders(h *fasthttp.ResponseHeader, l *filters.Local) {
	t := &f.tiers[uint8(l.N[0]>>8)]
	chosen := int(uint8(l.N[0] >> 16))
	reset := int64(uint32(l.N[0] >> 32))
	h.DisableNormalizing()
	var buf [20]byte
	for i := 0; i < t.n; i++ {
		w := t.slot[i]
		h.SetCanonical(hdrLimit[w], t.limitVal[i])
		h.SetCanonical(hdrRemaining[w], strconv.AppendInt(buf[:0], remaining(l, i), 10))
	}
	h.SetCanonical(hdrRLLimit, t.limitVal[chosen])
	h.SetCanonical(hdrRLRemain, strconv.AppendInt(buf[:0], remaining(l, chosen), 10))
	h.SetCanonical(hdrRLReset, strconv.AppendInt(buf[:0], reset, 10))
}

// pack stores what Response needs in the filter's Local slot. The window
// reported in RateLimit-* is the one with the fewest tokens left, the longer
// one on a tie (as Kong).
func pack(l *filters.Local, ti int, d *limiter.Decision) {
	chosen := 0
	l.N[1], l.N[2], l.N[3] = 0, 0, 0
	for i := 0; i < d.N; i++ {
		r := d.W[i].Remaining
		if r <= d.W[chosen].Remaining {
			chosen = i
		}
		l.N[1+i/2] |= min(r, math.MaxUint32) << (32 * (i % 2))
	}
	reset := ceilSeconds(d.W[chosen].Full)
	l.N[0] = flagHeaders | int64(ti)<<8 | int64(chosen)<<16 | min(reset, math.MaxUint32)<<32
}

func remaining(l *filters.Local, i int) int64 {
	return int64(uint32(l.N[1+i/2] >> (32 * (i % 2))))
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 1
	}
	if d >= math.MaxInt64-time.Second {
		return math.MaxUint32
	}
	return max(1, int64((d+time.Second-1)/time.Second))
}

// pickTier returns the index of the request's tier.
func (f *RateLimit) pickTier(c *filters.Ctx) int {
	switch f.c.tierSrc {
	case tierFromConsumer:
		if c.Consumer != nil && c.Consumer.Tier != "" {
			return f.tierIndex(c.Consumer.Tier)
		}
	case tierFromClaim:
		if c.Claims != nil {
			v, ok := c.Claims.AppendClaim(c.Scratch[:0], f.c.claim)
			c.Scratch = v[:0]
			if ok {
				return f.tierIndexBytes(v)
			}
		}
	}
	return f.c.defTier
}

func (f *RateLimit) tierIndex(name string) int {
	for i := range f.tiers {
		if f.tiers[i].name == name {
			return i
		}
	}
	return f.c.defTier
}

func (f *RateLimit) tierIndexBytes(name []byte) int {
	for i := range f.tiers {
		if f.tiers[i].name == string(name) {
			return i
		}
	}
	return f.c.defTier
}

// Key kinds: the first byte of a key, so that identities of different kinds
// never share a bucket.
const (
	kindConsumer   = 'c'
	kindCredential = 'k'
	kindIP         = 'i'
	kindHeader     = 'h'
	kindPath       = 'p'
	kindService    = 's'
)

// appendKey appends the request's identity to dst. As in Kong, a missing
// identity falls back to the client IP (for IPv6, its ipv6_prefix).
func (f *RateLimit) appendKey(dst []byte, c *filters.Ctx) []byte {
	switch f.c.limitBy {
	case byConsumer:
		if c.Consumer != nil && c.Consumer.ID != "" {
			return append(append(dst, kindConsumer), c.Consumer.ID...)
		}
		if c.Credential != "" {
			return append(append(dst, kindCredential), c.Credential...)
		}
	case byCredential:
		if c.Credential != "" {
			return append(append(dst, kindCredential), c.Credential...)
		}
	case byHeader:
		if v := c.RC.Request.Header.PeekBytes(f.c.header); len(v) > 0 {
			return append(append(dst, kindHeader), v...)
		}
	case byPath:
		// The path the client asked for (normalised), as Kong's
		// kong.request.get_path(): not the URI, which has the route
		// prefix stripped with strip_path.
		if string(c.Path) == string(f.c.path) {
			return append(append(dst, kindPath), f.c.path...)
		}
	case byService:
		if c.Service != "" {
			return append(append(dst, kindService), c.Service...)
		}
	}
	dst = append(dst, kindIP)
	if ip := c.ClientIP.Unmap(); ip.IsValid() {
		// An IPv6 client usually holds a whole /64: counted per prefix,
		// it cannot escape the limit by changing its address.
		if ip.Is6() && f.c.v6bits < 128 {
			p, _ := ip.Prefix(f.c.v6bits)
			ip = p.Addr()
		}
		a := ip.As16()
		dst = append(dst, a[:]...)
	}
	return dst
}

var (
	_ filters.Filter         = (*RateLimit)(nil)
	_ filters.ResponseFilter = (*RateLimit)(nil)
)
