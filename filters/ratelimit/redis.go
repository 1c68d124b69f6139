package ratelimit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/limiter"
)

// gcraScript is the engine's algorithm (GCRA, all windows or none) in Redis,
// in microseconds of Redis's own clock (TIME), so every gateway sharing the
// Redis agrees on time. A key is one hash with a field per window slot
// holding the theoretical arrival time; it expires when every bucket is full
// again. Rejected requests consume nothing.
//
// KEYS[1] = bucket hash; ARGV = n, then (slot, interval µs, tolerance µs) per
// window. Returns {allowed 0|1, retry µs, then remaining, used µs per window}.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local nw = (#ARGV - 1) / 3
local ok, retry = 1, 0
local tats = {}
for i = 0, nw - 1 do
  local interval, tol = tonumber(ARGV[3 + i*3]), tonumber(ARGV[4 + i*3])
  local tat = tonumber(redis.call('HGET', KEYS[1], ARGV[2 + i*3]) or '0')
  if tat < now then tat = now end
  local over = tat + n * interval - tol - now
  if over > 0 then
    ok = 0
    if over > retry then retry = over end
  end
  tats[i + 1] = tat
end
local res = {ok, retry}
local ttl = 0
for i = 0, nw - 1 do
  local interval, tol = tonumber(ARGV[3 + i*3]), tonumber(ARGV[4 + i*3])
  local tat = tats[i + 1]
  if ok == 1 then
    tat = tat + n * interval
    redis.call('HSET', KEYS[1], ARGV[2 + i*3], string.format('%d', tat))
  end
  local used = tat - now
  local rem = math.floor((tol - used) / interval)
  if rem < 0 then rem = 0 end
  res[#res + 1] = rem
  res[#res + 1] = used
  if used > ttl then ttl = used end
end
if ok == 1 then redis.call('PEXPIRE', KEYS[1], math.floor(ttl / 1000) + 1000) end
return res
`)

// redisArgs renders a tier's windows as script arguments (after n).
func redisArgs(ws []limiter.Window) []any {
	var out []any
	for _, w := range ws {
		interval := int64(w.Period/time.Microsecond) / w.Limit
		out = append(out, w.Slot, interval, interval*w.Limit)
	}
	return out
}

// Breaker settings: after breakerFailures consecutive errors Redis is not
// asked for breakerCooldown; then one request probes it.
const (
	breakerFailures = 3
	breakerCooldown = time.Second
)

// breaker is a minimal lock-free circuit breaker. It is hand-written because
// it is on the request path: a closed breaker costs one atomic load.
type breaker struct {
	failures  atomic.Int32
	openUntil atomic.Int64 // unix ns; 0 = closed
	probing   atomic.Bool
}

// allow reports whether a request may go to Redis.
func (b *breaker) allow(now int64) bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if now < until {
		return false
	}
	return b.probing.CompareAndSwap(false, true) // half-open: one probe
}

func (b *breaker) success() {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
		b.probing.Store(false)
	}
}

func (b *breaker) failure(now int64) {
	if b.failures.Add(1) >= breakerFailures || b.openUntil.Load() != 0 {
		b.openUntil.Store(now + int64(breakerCooldown))
		b.probing.Store(false)
	}
}

func (b *breaker) isOpen() bool {
	u := b.openUntil.Load()
	return u != 0 && time.Now().UnixNano() < u
}

// errBreakerOpen is returned while Redis is considered down.
var errBreakerOpen = errors.New("rate-limiting: redis unavailable (circuit open)")

// redisStore is a Redis client shared by the instances that use the same
// server, with its breaker.
type redisStore struct {
	client  *redis.Client
	timeout time.Duration
	br      breaker
}

// redisLogger sends go-redis's own log lines (pool and dial errors) to the
// gateway's logger instead of stderr. go-redis has one process-wide logger;
// the last instance built sets where it goes.
type redisLogger struct{ l atomic.Pointer[slog.Logger] }

func (r *redisLogger) Printf(_ context.Context, format string, v ...any) {
	if l := r.l.Load(); l != nil {
		l.Warn("rate-limiting: redis: " + fmt.Sprintf(format, v...))
	}
}

var (
	redisLog     redisLogger
	redisLogOnce sync.Once
)

// sharedRedis returns the client for s, creating it once per configuration
// so reloads keep the connection pool.
func sharedRedis(env *filters.Env, s *redisSettings) *redisStore {
	if env.Logger != nil {
		redisLog.l.Store(env.Logger)
		redisLogOnce.Do(func() { redis.SetLogger(&redisLog) })
	}
	return env.Shared.Get("rate-limiting/redis/"+s.id(), func() any {
		opt := &redis.Options{
			Addr:     s.addr,
			Username: s.username,
			Password: s.password,
			DB:       s.db,
			// Nothing on the request path may wait longer than the timeout,
			// and nothing is retried: the breaker and the fallback handle it.
			DialTimeout:     s.timeout,
			ReadTimeout:     s.timeout,
			WriteTimeout:    s.timeout,
			PoolTimeout:     s.timeout,
			MaxRetries:      -1,
			DialerRetries:   1,
			DisableIdentity: true,
			Protocol:        2,
			MaintNotificationsConfig: &maintnotifications.Config{
				Mode: maintnotifications.ModeDisabled,
			},
		}
		if s.ssl {
			opt.TLSConfig = &tls.Config{
				MinVersion:         tls.VersionTLS12,
				ServerName:         s.serverName,
				InsecureSkipVerify: !s.sslVerify, //nolint:gosec // only when ssl_verify: false is configured
			}
		}
		return &redisStore{client: redis.NewClient(opt), timeout: s.timeout}
	}).(*redisStore)
}

// take asks Redis for one token of key in every window of t. An error means
// Redis could not decide (down, slow, circuit open); d is then untouched.
func (r *redisStore) take(d *limiter.Decision, instance string, key []byte, t *tier) (bool, error) {
	if !r.br.allow(time.Now().UnixNano()) {
		return false, errBreakerOpen
	}
	args := make([]any, 0, 1+len(t.redisArg))
	args = append(args, 1)
	args = append(args, t.redisArg...)
	rkey := "edgeguard:rl:" + instance + ":" + string(key)
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	res, err := gcraScript.Run(ctx, r.client, []string{rkey}, args...).Int64Slice()
	cancel()
	if err == nil && len(res) != 2+2*t.n {
		err = fmt.Errorf("rate-limiting: redis script returned %d values", len(res))
	}
	if err != nil {
		r.br.failure(time.Now().UnixNano())
		return false, err
	}
	r.br.success()
	d.Allowed = res[0] == 1
	d.RetryAfter = time.Duration(res[1]) * time.Microsecond
	d.N = t.n
	for i := 0; i < t.n; i++ {
		lim := t.lim.Windows()[i]
		d.W[i] = limiter.WindowState{
			Limit:     lim.Limit,
			Burst:     lim.Burst,
			Remaining: res[2+2*i],
			Full:      time.Duration(res[3+2*i]) * time.Microsecond,
		}
	}
	return d.Allowed, nil
}
