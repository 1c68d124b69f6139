package ratelimit

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

var t0 = time.Now()

// at runs req through f as if it arrived at t0+offset, after resetting it.
func at(f filters.Filter, req *filtertest.Request, offset time.Duration) filters.Verdict {
	req.Reset()
	req.Ctx.Start = t0.Add(offset)
	return req.Run(f)
}

func hdr(req *filtertest.Request, name string) string {
	return string(req.RC.Response.Header.Peek(name))
}

func mustBuild(t *testing.T, env *filters.Env, yaml string) *RateLimit {
	t.Helper()
	return filtertest.MustBuild(t, env, "rate-limiting", yaml).(*RateLimit)
}

func TestConfigErrors(t *testing.T) {
	t.Setenv("EG_TEST_SET", "x")
	cases := []struct{ yaml, want string }{
		{"limit_by: ip", "config: rate-limiting: at least one of second"},
		{"minute: 0", "config.minute: rate-limiting: must be > 0"},
		{"minute: -3", "config.minute: rate-limiting: must be > 0"},
		{"minute: 1.5", "config.minute: rate-limiting: must be a whole number"},
		{"second: 2000000000", "config.second: rate-limiting: must be at most 1000000000"},
		{"minute: 100\nhour: 10", "config.hour: rate-limiting: the limit for hour(10) cannot be lower than the limit for minute(100)"},
		{"minute: x", `config.minute: must be a number (got "x")`},
		{"minut: 5", `config.minut: unknown field (did you mean "minute"?)`},
		{"minute: 5\nlimit_by: user", `config.limit_by: rate-limiting: must be one of consumer, credential, ip, header, path, service (got "user")`},
		{"minute: 5\nlimit_by: header", "config.header_name: rate-limiting: is required with limit_by: header"},
		{"minute: 5\nlimit_by: path\npath: api", "config.path: rate-limiting: is required with limit_by: path"},
		{"minute: 5\nheader_name: X-Key", "config.header_name: rate-limiting: is only used with limit_by: header"},
		{"minute: 5\npolicy: cluster", "config.policy: rate-limiting: cluster needs a cluster: section in the gateway config"},
		{"minute: 5\npolicy: memcached", `config.policy: rate-limiting: must be one of local, redis, cluster (got "memcached")`},
		{"minute: 5\npolicy: redis", "policy redis needs redis_host"},
		{"minute: 5\nredis_host: r", "redis settings need policy: redis"},
		{"minute: 5\npolicy: redis\nredis_host: a\nredis:\n  host: b", "config.redis_host: rate-limiting: redis.host is also set"},
		{"minute: 5\npolicy: redis\nredis_host: a\nredis_port: 0", "redis port must be 1-65535"},
		{"minute: 5\npolicy: redis\nredis_host: a\nredis_timeout: 0", "redis timeout must be 1-60000 ms"},
		{"minute: 5\npolicy: redis\nredis_host: a\nredis_password: '{vault://env/eg-test-unset}'", `environment variable "EG_TEST_UNSET" for the redis password is not set`},
		{"minute: 5\npolicy: redis\nredis_host: a\nsecond: 2000000", "config.second: rate-limiting: must be at most 1000000"},
		{"minute: 5\nsync_rate: 1", "config.sync_rate: rate-limiting: not supported"},
		{"minute: 5\nerror_code: 1000", "config.error_code: rate-limiting: must be an HTTP status"},
		{"minute: 5\nmax_keys: -1", "config.max_keys: rate-limiting: must be between"},
		{"tiers:\n  gold: {minute: 5}", "config.default_tier: rate-limiting: is required with tiers"},
		{"tiers:\n  gold: {minute: 5}\ndefault_tier: silver", `config.default_tier: rate-limiting: "silver" is not one of tiers (gold)`},
		{"minute: 1\ntiers:\n  gold: {minute: 5}\ndefault_tier: gold", "either at the top level or in tiers"},
		{"tiers:\n  gold: {minute: 5}\ndefault_tier: gold\ntier_source: header.plan", "config.tier_source: rate-limiting: must be consumer.tier or jwt.<claim>"},
		{"tiers:\n  gold: {hour: 5, minute: 50}\ndefault_tier: gold", "config.tiers.gold.hour: rate-limiting: the limit for hour(5)"},
		{"tiers:\n  gold: {}\ndefault_tier: gold", "config.tiers.gold: rate-limiting: at least one"},
		{"minute: 5\ndefault_tier: gold", "tier_source and default_tier need tiers"},
	}
	for _, c := range cases {
		_, err := filtertest.Build(filtertest.Env(t), "rate-limiting", c.yaml)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %q", c.yaml, err, c.want)
		}
	}
}

func TestConfigValid(t *testing.T) {
	t.Setenv("REDIS_PASSWORD", "s3cret")
	for _, y := range []string{
		// The article's two plugins.
		"second: 10\nminute: 100\nhour: 1000\npolicy: redis\nredis_host: redis\nredis_port: 6379\nfault_tolerant: true\nhide_client_headers: false",
		"second: 100\nminute: 1000\nhour: 10000\npolicy: redis\nredis_host: redis",
		"minute: 5\npolicy: redis\nredis:\n  host: redis\n  port: 6380\n  timeout: 500\n  database: 2\n  password: '{vault://env/redis-password}'\n  ssl: true\n  server_name: redis.internal",
		"minute: 5\npolicy: local\nfault_tolerant: false\nsync_rate: -1\nerror_code: 403\nerror_message: slow down",
		"month: 10000\nyear: 100000",
		"minute: 5\nlimit_by: path\npath: /login",
		"tiers:\n  standard: {second: 10, minute: 100}\n  premium: {second: 100, minute: 1000}\ntier_source: jwt.plan\ndefault_tier: standard",
	} {
		if _, err := filtertest.Build(filtertest.Env(t), "rate-limiting", y); err != nil {
			t.Errorf("%q: %v", y, err)
		}
	}
}

func TestConfigSecretResolved(t *testing.T) {
	t.Setenv("REDIS_PASSWORD", "s3cret")
	t.Setenv("RL_PW", "other")
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if f := mustBuild(t, filtertest.Env(t), "minute: 5\npolicy: redis\nredis_host: r\nredis_password_file: "+pwFile); f.c.redis.password != "from-file" {
		t.Fatalf("password from file %q", f.c.redis.password)
	}
	f := mustBuild(t, filtertest.Env(t), "minute: 5\npolicy: redis\nredis_host: r\nredis_password: '{vault://env/redis-password}'")
	if f.c.redis.password != "s3cret" {
		t.Fatalf("password %q", f.c.redis.password)
	}
	f = mustBuild(t, filtertest.Env(t), "minute: 5\npolicy: redis\nredis:\n  host: r\n  password: ${RL_PW}")
	if f.c.redis.password != "other" || f.c.redis.addr != "r:6379" || f.c.redis.timeout != 2*time.Second || !f.c.redis.sslVerify {
		t.Fatalf("settings %+v", f.c.redis)
	}
}

func TestLimitsPerWindow(t *testing.T) {
	f := mustBuild(t, filtertest.Env(t), "second: 2\nminute: 3\nlimit_by: ip")
	req := filtertest.NewRequest("GET", "/x", "203.0.113.7")
	want := []struct {
		at     time.Duration
		ok     bool
		remSec string
		remMin string
	}{
		{0, true, "1", "2"},
		{0, true, "0", "1"},
		{0, false, "0", "1"}, // second window empty
		{time.Second, true, "1", "0"},
		{time.Second, false, "1", "0"}, // minute window empty, second has a token
		{20 * time.Second, true, "1", "0"},
	}
	for i, w := range want {
		v := at(f, req, w.at)
		if (v == filters.Continue) != w.ok {
			t.Fatalf("step %d: verdict %v, want ok=%v", i, v, w.ok)
		}
		if got := hdr(req, "X-RateLimit-Remaining-Second"); got != w.remSec {
			t.Errorf("step %d: remaining second %q, want %q", i, got, w.remSec)
		}
		if got := hdr(req, "X-RateLimit-Remaining-Minute"); got != w.remMin {
			t.Errorf("step %d: remaining minute %q, want %q", i, got, w.remMin)
		}
		if hdr(req, "X-RateLimit-Limit-Second") != "2" || hdr(req, "X-RateLimit-Limit-Minute") != "3" {
			t.Errorf("step %d: limit headers %q %q", i, hdr(req, "X-RateLimit-Limit-Second"), hdr(req, "X-RateLimit-Limit-Minute"))
		}
	}
}

func TestHeadersAndRejection(t *testing.T) {
	f := mustBuild(t, filtertest.Env(t), "second: 5\nminute: 10\nhour: 100\nlimit_by: ip")
	req := filtertest.NewRequest("GET", "/x", "203.0.113.7")
	if at(f, req, 0) != filters.Continue {
		t.Fatal("first request rejected")
	}
	// Fewest remaining is the second window (4 of 5).
	check := func(name, want string) {
		t.Helper()
		if got := hdr(req, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("RateLimit-Limit", "5")
	check("RateLimit-Remaining", "4")
	check("RateLimit-Reset", "1")
	check("X-RateLimit-Remaining-Hour", "99")
	check("Retry-After", "")
	for i := 0; i < 4; i++ {
		at(f, req, 0)
	}
	for i := 0; i < 5; i++ {
		at(f, req, time.Second)
	}
	// Ten requests within a second: both the second and the minute window
	// are empty. The minute one refills a token every 6 s and needs 5 s
	// more; RateLimit-* shows the minute window (tie on 0: the longer one).
	if at(f, req, time.Second) != filters.Respond {
		t.Fatal("11th request admitted")
	}
	if req.RC.Response.StatusCode() != 429 {
		t.Fatalf("status %d", req.RC.Response.StatusCode())
	}
	if body := string(req.RC.Response.Body()); body != `{"message":"API rate limit exceeded","request_id":"test-request-id"}` {
		t.Fatalf("body %s", body)
	}
	check("RateLimit-Limit", "10")
	check("RateLimit-Remaining", "0")
	check("X-RateLimit-Remaining-Minute", "0")
	check("X-RateLimit-Limit-Hour", "100")
	retry, err := strconv.Atoi(hdr(req, "Retry-After"))
	if err != nil || retry != 5 {
		t.Fatalf("Retry-After %q, want 5", hdr(req, "Retry-After"))
	}
	if req.Ctx.RejectedBy != "test" || req.Ctx.RejectReason != "rate_limited" {
		t.Fatalf("rejected by %q %q", req.Ctx.RejectedBy, req.Ctx.RejectReason)
	}
	// Retry-After is right: one second earlier is still refused, at it the
	// request passes.
	if at(f, req, time.Second+time.Duration(retry-1)*time.Second) != filters.Respond {
		t.Fatalf("admitted before Retry-After %d", retry)
	}
	if at(f, req, time.Second+time.Duration(retry)*time.Second) != filters.Continue {
		t.Fatalf("rejected after Retry-After %d", retry)
	}
}

func TestRetryAfterExact(t *testing.T) {
	// 1 per hour: after one request Retry-After must be 3600.
	f := mustBuild(t, filtertest.Env(t), "hour: 1\nlimit_by: ip")
	req := filtertest.NewRequest("GET", "/", "198.51.100.1")
	at(f, req, 0)
	if at(f, req, 10*time.Second) != filters.Respond {
		t.Fatal("second request admitted")
	}
	if got := hdr(req, "Retry-After"); got != "3590" {
		t.Fatalf("Retry-After %q, want 3590", got)
	}
	if got := hdr(req, "RateLimit-Reset"); got != "3590" {
		t.Fatalf("RateLimit-Reset %q, want 3590", got)
	}
}

func TestHeadersSurviveUpstreamResponse(t *testing.T) {
	f := mustBuild(t, filtertest.Env(t), "minute: 10\nlimit_by: ip")
	req := filtertest.NewRequest("GET", "/", "198.51.100.1")
	req.Reset()
	req.Ctx.Start = t0
	if f.Access(&req.Ctx) != filters.Continue {
		t.Fatal("rejected")
	}
	// The proxy replaces the response with the upstream's.
	req.RC.Response.Reset()
	req.RC.Response.SetStatusCode(200)
	req.RC.Response.Header.Set("X-Upstream", "1")
	f.Response(&req.Ctx)
	if hdr(req, "X-RateLimit-Remaining-Minute") != "9" || hdr(req, "RateLimit-Remaining") != "9" || hdr(req, "X-Upstream") != "1" {
		t.Fatalf("headers: %s", req.RC.Response.Header.String())
	}
}

// TestHeaderNamesOnTheWire checks the bytes the client gets: Kong's names
// (RateLimit-Limit, X-RateLimit-Remaining-Minute) on a proxied response, on
// one the gateway made after the request was admitted, and on the 429.
func TestHeaderNamesOnTheWire(t *testing.T) {
	kong := []string{
		"\r\nX-RateLimit-Limit-Minute: 2\r\n", "\r\nX-RateLimit-Remaining-Minute: ",
		"\r\nRateLimit-Limit: 2\r\n", "\r\nRateLimit-Remaining: ", "\r\nRateLimit-Reset: ",
	}
	check := func(what string, req *filtertest.Request, want ...string) {
		t.Helper()
		raw := req.RC.Response.String() // as the server writes it
		for _, w := range append(want, kong...) {
			if !strings.Contains(raw, w) {
				t.Errorf("%s lacks %q:\n%s", what, w, raw)
			}
		}
		if strings.Contains(raw, "Ratelimit") {
			t.Errorf("%s has a normalised name:\n%s", what, raw)
		}
		// Found by their names, as a response filter or the log would.
		if hdr(req, "X-RateLimit-Limit-Minute") != "2" || hdr(req, "RateLimit-Limit") != "2" {
			t.Errorf("%s: Peek by name failed:\n%s", what, raw)
		}
	}
	f := mustBuild(t, filtertest.Env(t), "minute: 2\nlimit_by: ip")
	req := filtertest.NewRequest("GET", "/", "198.51.100.1")

	// Proxied: the upstream client keeps the upstream's names as sent.
	req.Reset()
	req.Ctx.Start = t0
	if f.Access(&req.Ctx) != filters.Continue {
		t.Fatal("rejected")
	}
	req.RC.Response.Reset()
	req.RC.Response.Header.DisableNormalizing()
	req.RC.Response.Header.Set("x-upstream", "1")
	f.Response(&req.Ctx)
	check("proxied 200", req, "\r\nx-upstream: 1\r\n", "\r\nX-RateLimit-Remaining-Minute: 1\r\n")

	// Admitted, then answered by the gateway (a fresh, normalising header).
	req.Reset()
	req.Ctx.Start = t0
	if req.Run(f) != filters.Continue {
		t.Fatal("rejected")
	}
	check("gateway-made response", req, "\r\nX-RateLimit-Remaining-Minute: 0\r\n")

	// The 429, written on the server's own (normalising) header.
	if at(f, req, 0) != filters.Respond {
		t.Fatal("admitted")
	}
	check("429", req, "HTTP/1.1 429 ", "\r\nX-RateLimit-Remaining-Minute: 0\r\n", "\r\nRetry-After: 30\r\n")
	if s := req.RC.Response.String(); strings.Contains(s, "X-Ratelimit") || strings.Contains(s, "Ratelimit-") {
		t.Errorf("429 has normalised names:\n%s", s)
	}
	// A reset response normalises again (the server's next request).
	req.Reset()
	if wasDisabled := req.RC.Response.Header.DisableNormalizing(); wasDisabled {
		t.Error("normalisation setting survived Response.Reset")
	}
}

func TestHideClientHeadersAndCustomError(t *testing.T) {
	f := mustBuild(t, filtertest.Env(t), "second: 1\nlimit_by: ip\nhide_client_headers: true\nerror_code: 503\nerror_message: Slow down")
	req := filtertest.NewRequest("GET", "/", "198.51.100.1")
	at(f, req, 0)
	if h := req.RC.Response.Header.String(); strings.Contains(strings.ToLower(h), "ratelimit") {
		t.Fatalf("headers leaked: %s", h)
	}
	if at(f, req, 0) != filters.Respond {
		t.Fatal("admitted")
	}
	if req.RC.Response.StatusCode() != 503 || !strings.Contains(string(req.RC.Response.Body()), `"message":"Slow down"`) {
		t.Fatalf("%d %s", req.RC.Response.StatusCode(), req.RC.Response.Body())
	}
	if h := req.RC.Response.Header.String(); strings.Contains(strings.ToLower(h), "ratelimit") || strings.Contains(h, "Retry-After") {
		t.Fatalf("headers on 429 with hide_client_headers: %s", h)
	}
}

func TestLimitByAndFallbacks(t *testing.T) {
	alice := &filters.Consumer{ID: "id-alice", Username: "alice"}
	type setup func(r *filtertest.Request)
	withConsumer := func(r *filtertest.Request) { r.Ctx.Consumer = alice }
	withCred := func(r *filtertest.Request) { r.Ctx.Credential = "cred-1" }
	withHeader := func(r *filtertest.Request) { r.RC.Request.Header.Set("X-Api-Key", "k1") }
	none := func(r *filtertest.Request) {}
	cases := []struct {
		name, conf string
		// a and b are two requests from different IPs; sameBucket says
		// whether they must share a bucket.
		a, b       setup
		pathA      string
		pathB      string
		sameBucket bool
	}{
		{"consumer", "limit_by: consumer", withConsumer, withConsumer, "/", "/", true},
		{"consumer falls back to credential", "limit_by: consumer", withCred, withCred, "/", "/", true},
		{"consumer falls back to ip", "limit_by: consumer", none, none, "/", "/", false},
		{"default is consumer", "", withConsumer, withConsumer, "/", "/", true},
		{"credential", "limit_by: credential", withCred, withCred, "/", "/", true},
		{"credential falls back to ip", "limit_by: credential", withConsumer, withConsumer, "/", "/", false},
		{"header", "limit_by: header\nheader_name: X-Api-Key", withHeader, withHeader, "/", "/", true},
		{"header missing falls back to ip", "limit_by: header\nheader_name: X-Api-Key", none, none, "/", "/", false},
		{"path", "limit_by: path\npath: /login", none, none, "/login", "/login", true},
		{"other path falls back to ip", "limit_by: path\npath: /login", none, none, "/other", "/other", false},
		{"service", "limit_by: service", none, none, "/a", "/b", true},
		{"ip", "limit_by: ip", withConsumer, withConsumer, "/", "/", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := mustBuild(t, filtertest.Env(t), "minute: 1\n"+c.conf)
			ra := filtertest.NewRequest("GET", c.pathA, "203.0.113.1")
			rb := filtertest.NewRequest("GET", c.pathB, "203.0.113.2")
			ra.Reset()
			ra.Ctx.Path = []byte(c.pathA) // as the gateway does
			c.a(ra)
			ra.Ctx.Start = t0
			if ra.Run(f) != filters.Continue {
				t.Fatal("first request rejected")
			}
			rb.Reset()
			rb.Ctx.Path = []byte(c.pathB)
			c.b(rb)
			rb.Ctx.Start = t0
			shared := rb.Run(f) == filters.Respond
			if shared != c.sameBucket {
				t.Fatalf("second request from another IP: shared bucket %v, want %v", shared, c.sameBucket)
			}
		})
	}
}

func TestIPv4MappedSharesBucket(t *testing.T) {
	f := mustBuild(t, filtertest.Env(t), "minute: 1\nlimit_by: ip")
	a := filtertest.NewRequest("GET", "/", "203.0.113.9")
	b := filtertest.NewRequest("GET", "/", "::ffff:203.0.113.9")
	at(f, a, 0)
	if at(f, b, 0) != filters.Respond {
		t.Fatal("v4 and v4-in-v6 must be the same client")
	}
}

type claims map[string]string

func (c claims) AppendClaim(dst []byte, path string) ([]byte, bool) {
	v, ok := c[path]
	return append(dst, v...), ok
}

const tiersYAML = `
limit_by: ip
tiers:
  standard: {second: 1, minute: 2}
  premium: {second: 3, minute: 10}
default_tier: standard
`

func countAdmitted(f filters.Filter, req *filtertest.Request, set func(*filtertest.Request), n int) int {
	ok := 0
	for i := 0; i < n; i++ {
		req.Reset()
		set(req)
		req.Ctx.Start = t0
		if req.Run(f) == filters.Continue {
			ok++
		}
	}
	return ok
}

func TestTiersByConsumer(t *testing.T) {
	f := mustBuild(t, filtertest.Env(t), tiersYAML)
	cases := []struct {
		tier string
		want int
	}{{"premium", 3}, {"standard", 1}, {"gold", 1}, {"", 1}}
	for i, c := range cases {
		req := filtertest.NewRequest("GET", "/", "198.51.100."+strconv.Itoa(i+1))
		cons := &filters.Consumer{ID: "c", Tier: c.tier}
		got := countAdmitted(f, req, func(r *filtertest.Request) { r.Ctx.Consumer = cons }, 10)
		if got != c.want {
			t.Errorf("tier %q: admitted %d, want %d", c.tier, got, c.want)
		}
		if c.tier == "premium" && hdr(req, "X-RateLimit-Limit-Second") != "3" {
			t.Errorf("premium limit header %q", hdr(req, "X-RateLimit-Limit-Second"))
		}
	}
	// No consumer at all: default tier.
	req := filtertest.NewRequest("GET", "/", "198.51.100.99")
	if got := countAdmitted(f, req, func(*filtertest.Request) {}, 10); got != 1 {
		t.Errorf("anonymous: admitted %d", got)
	}
}

func TestTiersByClaim(t *testing.T) {
	f := mustBuild(t, filtertest.Env(t), tiersYAML+"tier_source: jwt.plan\n")
	for i, c := range []struct {
		cl   filters.Claims
		want int
	}{
		{claims{"plan": "premium"}, 3},
		{claims{"plan": "standard"}, 1},
		{claims{"other": "premium"}, 1},
		{nil, 1},
	} {
		req := filtertest.NewRequest("GET", "/", "198.51.100."+strconv.Itoa(i+1))
		cl := c.cl
		if got := countAdmitted(f, req, func(r *filtertest.Request) { r.Ctx.Claims = cl }, 10); got != c.want {
			t.Errorf("claims %v: admitted %d, want %d", c.cl, got, c.want)
		}
	}
}

func TestTiersByInstance(t *testing.T) {
	// The article's pattern: a standard and a premium instance on two routes.
	env := filtertest.Env(t)
	env.InstanceName = "rate-limit-standard"
	std := mustBuild(t, env, "second: 2\nminute: 100\nhour: 1000\nlimit_by: ip")
	env.InstanceName = "rate-limit-premium"
	prem := mustBuild(t, env, "second: 5\nminute: 1000\nhour: 10000\nlimit_by: ip")
	req := filtertest.NewRequest("GET", "/v1", "198.51.100.1")
	if got := countAdmitted(std, req, func(*filtertest.Request) {}, 10); got != 2 {
		t.Errorf("standard admitted %d", got)
	}
	// Same client on the premium route has its own buckets.
	if got := countAdmitted(prem, req, func(*filtertest.Request) {}, 10); got != 5 {
		t.Errorf("premium admitted %d", got)
	}
}

func TestEngineSurvivesReload(t *testing.T) {
	env := filtertest.Env(t)
	f1 := mustBuild(t, env, "minute: 2\nlimit_by: ip")
	req := filtertest.NewRequest("GET", "/", "198.51.100.1")
	at(f1, req, 0)
	at(f1, req, 0)
	// Reload with a changed config: same instance, same engine, same state.
	f2 := mustBuild(t, env, "minute: 2\nhour: 50\nlimit_by: ip")
	if f1.Engine() != f2.Engine() {
		t.Fatal("engine not shared across reloads")
	}
	if at(f2, req, 0) != filters.Respond {
		t.Fatal("state lost on reload")
	}
	env.InstanceName = "other"
	if f3 := mustBuild(t, env, "minute: 2\nlimit_by: ip"); f3.Engine() == f1.Engine() {
		t.Fatal("instances must not share engines")
	}
}

func TestMetrics(t *testing.T) {
	env := filtertest.Env(t)
	f := mustBuild(t, env, "second: 1\nlimit_by: ip")
	req := filtertest.NewRequest("GET", "/", "198.51.100.1")
	at(f, req, 0)
	at(f, req, 0)
	var sb strings.Builder
	env.Metrics.WritePrometheus(&sb)
	out := sb.String()
	for _, want := range []string{`edgeguard_ratelimit_rejected_total{plugin="test"} 1`, `edgeguard_ratelimit_keys{plugin="test"} 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
}

func TestLocalPathDoesNotAllocate(t *testing.T) {
	f := mustBuild(t, filtertest.Env(t), "second: 1000000\nminute: 10000000\nhour: 100000000\nlimit_by: consumer")
	req := filtertest.NewRequest("GET", "/api", "203.0.113.7")
	cons := &filters.Consumer{ID: "0b5c2d53-5d7e-4a9c-9f44-000000000001", Tier: "gold"}
	rejF := mustBuild(t, filtertest.Env(t), "second: 1\nlimit_by: ip")
	rejReq := filtertest.NewRequest("GET", "/api", "203.0.113.8")
	rejReq.Run(rejF)
	// An IPv6 client (keyed by its /64) refused by a shared path bucket.
	pathF := mustBuild(t, filtertest.Env(t), "second: 1\nlimit_by: path\npath: /api/login")
	pathReq := filtertest.NewRequest("GET", "/login", "2001:db8::8")
	v6F := mustBuild(t, filtertest.Env(t), "second: 1000000\nlimit_by: ip")
	login := []byte("/api/login")
	pathReq.Ctx.Path = login
	pathReq.Run(pathF)
	allocs := testing.AllocsPerRun(1000, func() {
		req.Reset()
		req.Ctx.Consumer = cons
		if req.Run(f) != filters.Continue {
			t.Fatal("rejected")
		}
		rejReq.Reset()
		rejReq.Run(rejF) // the 429 path
		pathReq.Reset()
		pathReq.Ctx.Path = login
		if pathReq.Run(pathF) != filters.Respond || !pathReq.Ctx.SharedLimit {
			t.Fatal("path bucket admitted")
		}
		pathReq.Reset()
		pathReq.Run(v6F)
	})
	if allocs != 0 {
		t.Fatalf("local plugin path allocates %.1f times per request", allocs)
	}
}

// TestSharedLimitMarked: a refusal by a bucket all clients share (path,
// service) sets Ctx.SharedLimit, so the gateway's abuse detector does not
// count it against a client who did not use the bucket up; a refusal by the
// client's own bucket does not.
func TestSharedLimitMarked(t *testing.T) {
	alice := &filters.Consumer{ID: "id-alice"}
	cases := []struct {
		name, conf, path string
		consumer         *filters.Consumer
		shared           bool
	}{
		{"path", "limit_by: path\npath: /login", "/login", nil, true},
		{"service", "limit_by: service", "/x", nil, true},
		{"path, other path (per ip)", "limit_by: path\npath: /login", "/other", nil, false},
		{"service missing (per ip)", "limit_by: service", "/x", nil, false},
		{"ip", "limit_by: ip", "/login", nil, false},
		{"consumer", "limit_by: consumer", "/login", alice, false},
		{"consumer missing (per ip)", "limit_by: consumer", "/login", nil, false},
		{"header", "limit_by: header\nheader_name: X-Api-Key", "/login", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := mustBuild(t, filtertest.Env(t), "minute: 1\n"+c.conf)
			req := filtertest.NewRequest("GET", c.path, "203.0.113.1")
			run := func() filters.Verdict {
				req.Reset()
				req.Ctx.Path = []byte(c.path)
				req.Ctx.Consumer = c.consumer
				if c.name == "service missing (per ip)" {
					req.Ctx.Service = ""
				}
				req.RC.Request.Header.Set("X-Api-Key", "k1")
				req.Ctx.Start = t0
				return req.Run(f)
			}
			if run() != filters.Continue || req.Ctx.SharedLimit {
				t.Fatalf("first request: admitted and not marked expected (SharedLimit %v)", req.Ctx.SharedLimit)
			}
			if run() != filters.Respond {
				t.Fatal("second request admitted")
			}
			if req.Ctx.SharedLimit != c.shared {
				t.Fatalf("SharedLimit %v, want %v", req.Ctx.SharedLimit, c.shared)
			}
		})
	}
}

// TestPathIsTheRequestPath: limit_by path compares the path the client
// sent (Ctx.Path, normalised, before strip_path), as Kong compares
// kong.request.get_path(), not the URI that is forwarded.
func TestPathIsTheRequestPath(t *testing.T) {
	// A route /api with strip_path: the gateway forwards /login and sets
	// Ctx.Path to /api/login.
	stripped := func(ip string) *filtertest.Request {
		r := filtertest.NewRequest("GET", "/login", ip)
		r.Reset()
		r.Ctx.Path = []byte("/api/login")
		r.Ctx.Start = t0
		return r
	}
	f := mustBuild(t, filtertest.Env(t), "minute: 1\nlimit_by: path\npath: /api/login")
	if stripped("203.0.113.1").Run(f) != filters.Continue {
		t.Fatal("first request rejected")
	}
	if r := stripped("203.0.113.2").Run(f); r != filters.Respond {
		t.Fatal("path: /api/login does not apply to a request for /api/login on a strip_path route")
	}
	// path: /login is not what the client asked for: per IP, as in Kong.
	f = mustBuild(t, filtertest.Env(t), "minute: 1\nlimit_by: path\npath: /login")
	stripped("203.0.113.1").Run(f)
	if stripped("203.0.113.2").Run(f) != filters.Continue {
		t.Fatal("path: /login applied to a request for /api/login")
	}
}

// TestIPv6Prefix: IPv6 clients are counted per ipv6_prefix (default /64, as
// the abuse detector), so rotating addresses within a /64 does not escape
// the limit; 128 counts single addresses, as Kong does.
func TestIPv6Prefix(t *testing.T) {
	if DefaultIPv6Prefix != blocklist.DefaultAbuseIPv6Prefix {
		t.Fatalf("default ipv6_prefix %d, the abuse detector's %d", DefaultIPv6Prefix, blocklist.DefaultAbuseIPv6Prefix)
	}
	cases := []struct {
		conf, a, b string
		shared     bool
	}{
		{"limit_by: ip", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", true},
		{"limit_by: ip", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"limit_by: ip\nipv6_prefix: 64", "2001:db8:1:2::1", "2001:db8:1:2::2", true},
		{"limit_by: ip\nipv6_prefix: 128", "2001:db8:1:2::1", "2001:db8:1:2::2", false},
		{"limit_by: ip\nipv6_prefix: 48", "2001:db8:1:2::1", "2001:db8:1:ff::1", true},
		{"limit_by: ip\nipv6_prefix: 48", "2001:db8:1:2::1", "2001:db8:2:2::1", false},
		{"limit_by: ip", "2001:db8:1:2::1%eth0", "2001:db8:1:2::2", true},
		// IPv4 is per address, whatever the prefix.
		{"limit_by: ip\nipv6_prefix: 32", "203.0.113.1", "203.0.113.2", false},
		{"limit_by: ip", "203.0.113.1", "::ffff:203.0.113.1", true},
		// The fallback of the other keys is the same.
		{"limit_by: consumer", "2001:db8:1:2::1", "2001:db8:1:2::2", true},
		{"limit_by: header\nheader_name: X-Api-Key", "2001:db8:1:2::1", "2001:db8:1:2::2", true},
		{"limit_by: path\npath: /login\nipv6_prefix: 128", "2001:db8:1:2::1", "2001:db8:1:2::2", false},
	}
	for _, c := range cases {
		f := mustBuild(t, filtertest.Env(t), "minute: 1\n"+c.conf)
		at(f, filtertest.NewRequest("GET", "/", c.a), 0)
		shared := at(f, filtertest.NewRequest("GET", "/", c.b), 0) == filters.Respond
		if shared != c.shared {
			t.Errorf("%q: %s then %s: shared bucket %v, want %v", c.conf, c.a, c.b, shared, c.shared)
		}
	}
	for _, y := range []string{"ipv6_prefix: 31", "ipv6_prefix: 129", "ipv6_prefix: -64"} {
		_, err := filtertest.Build(filtertest.Env(t), "rate-limiting", "minute: 1\n"+y)
		if err == nil || !strings.Contains(err.Error(), "config.ipv6_prefix: rate-limiting: must be between 32 and 128") {
			t.Errorf("%s: %v", y, err)
		}
	}
}

// TestTierChangeKeepsUsedFraction pins what a caller that changes tier
// keeps: the state of each window is how long until its bucket is full
// again, so the fraction used carries over, not the count (README, Tiers).
// A consumer that used 2 of free's 2 per minute has used all of premium's
// 5, and gets premium's first token one premium interval (12 s) later.
func TestTierChangeKeepsUsedFraction(t *testing.T) {
	f := mustBuild(t, filtertest.Env(t), "limit_by: ip\ntier_source: jwt.plan\ntiers:\n  free: {minute: 2}\n  premium: {minute: 5}\ndefault_tier: free\n")
	req := filtertest.NewRequest("GET", "/", "198.51.100.1")
	send := func(plan string, offset time.Duration) filters.Verdict {
		req.Reset()
		req.Ctx.Claims = claims{"plan": plan}
		req.Ctx.Start = t0.Add(offset)
		return req.Run(f)
	}
	for i := 0; i < 2; i++ {
		if send("free", 0) != filters.Continue {
			t.Fatalf("free request %d rejected", i+1)
		}
	}
	if send("free", 0) != filters.Respond {
		t.Fatal("third free request admitted")
	}
	if send("premium", 0) != filters.Respond {
		t.Fatal("premium request admitted at once: the count carried over, not the fraction (update the README)")
	}
	if hdr(req, "X-RateLimit-Limit-Minute") != "5" || hdr(req, "X-RateLimit-Remaining-Minute") != "0" || hdr(req, "Retry-After") != "12" {
		t.Fatalf("premium 429 headers:\n%s", req.RC.Response.Header.String())
	}
	if send("premium", 12*time.Second-time.Millisecond) != filters.Respond {
		t.Fatal("premium request admitted before Retry-After")
	}
	if send("premium", 12*time.Second) != filters.Continue {
		t.Fatal("premium request rejected at Retry-After")
	}
	if send("premium", 12*time.Second) != filters.Respond {
		t.Fatal("second premium request at 12 s admitted")
	}
	// Down again: 5 of premium's 5 used is 2 of free's 2.
	if send("free", 12*time.Second) != filters.Respond || hdr(req, "X-RateLimit-Remaining-Minute") != "0" {
		t.Fatal("free request admitted after premium used its bucket")
	}
}
