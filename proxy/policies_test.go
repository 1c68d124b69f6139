package proxy

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters/jwt/jwttest"
)

// clientFrom returns an HTTP client whose connections come from ip (a
// loopback address such as 127.0.0.2).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func doFrom(t *testing.T, cl *http.Client, method, url string, hdr map[string]string, body string) resp {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

const plainRoute = `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`

func TestBlocklistAdminAndPersistence(t *testing.T) {
	b := startBackend(t, "api")
	dir := t.TempDir()
	cfg := plainRoute + "data_dir: " + dir + "\n"
	g := startGateway(t, cfg, b)
	other := clientFrom("127.0.0.2")
	if r := doFrom(t, other, "GET", g.url+"/x", nil, ""); r.status != 200 {
		t.Fatalf("before block: %d", r.status)
	}
	// Bad requests get clear errors.
	for body, want := range map[string]string{
		`{"ip":"nope"}`:                       "message",
		`{"ip":"10.0.0.1/33"}`:                "message",
		`{"ip":"127.0.0.2","ttl":"-1s"}`:      "message",
		`{"ip":"127.0.0.2","ttl":"9999999h"}`: "too large",
		`{"ip":"127.0.0.2","ttl":"1ns"}`:      "too short",
		`{"ip":"::ffff:127.0.0.0/8"}`:         "IPv4 form",
		`{"ip":"127.0.0.111/24"}`:             "host bits",
		`{"ip":"127.0.0.2","bogus":1}`:        "message",
		`not json`:                            "message",
	} {
		if r := do(t, "POST", g.admin+"/blocklist", nil, strings.NewReader(body)); r.status != 400 || !strings.Contains(string(r.body), want) {
			t.Errorf("POST %s: %d %s", body, r.status, r.body)
		}
	}
	r := do(t, "POST", g.admin+"/blocklist", nil, strings.NewReader(`{"ip":"127.0.0.2","ttl":"1h","reason":"scraping"}`))
	if r.status != 201 {
		t.Fatalf("block: %d %s", r.status, r.body)
	}
	do(t, "POST", g.admin+"/blocklist", nil, strings.NewReader(`{"ip":"198.51.100.0/24","ttl":"1s","reason":"short"}`))
	// Immediately effective, for every route, before routing (even for a path that matches nothing).
	for _, p := range []string{"/x", "/nothing/here"} {
		if r := doFrom(t, other, "GET", g.url+p, nil, ""); r.status != 403 || !strings.Contains(string(r.body), "IP address not allowed: 127.0.0.2") {
			t.Fatalf("blocked client on %s: %d %s", p, r.status, r.body)
		}
	}
	if r := do(t, "GET", g.url+"/x", nil, nil); r.status != 200 {
		t.Fatalf("other clients unaffected: %d", r.status)
	}
	var list struct {
		Entries []blockView
		Total   int
	}
	json.Unmarshal(do(t, "GET", g.admin+"/blocklist", nil, nil).body, &list)
	if list.Total != 2 || list.Entries[0].ExpiresAt == "" {
		t.Fatalf("list: %+v", list)
	}
	// Expiry on time.
	time.Sleep(1500 * time.Millisecond)
	json.Unmarshal(do(t, "GET", g.admin+"/blocklist", nil, nil).body, &list)
	if list.Total != 1 || list.Entries[0].IP != "127.0.0.2" || list.Entries[0].Reason != "scraping" {
		t.Fatalf("after expiry: %+v", list)
	}
	// Survives a restart.
	g.Shutdown()
	g2 := startGateway(t, cfg, b)
	if r := doFrom(t, other, "GET", g2.url+"/x", nil, ""); r.status != 403 {
		t.Fatalf("after restart: %d", r.status)
	}
	if r := do(t, "DELETE", g2.admin+"/blocklist/127.0.0.2", nil, nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", g2.admin+"/blocklist/127.0.0.2", nil, nil); r.status != 404 {
		t.Fatalf("second delete: %d", r.status)
	}
	if r := doFrom(t, other, "GET", g2.url+"/x", nil, ""); r.status != 200 {
		t.Fatalf("after delete: %d", r.status)
	}
	g2.Shutdown()
	// A corrupt file is reported and does not stop the gateway.
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatal("no blocklist file in the data dir")
	}
	os.WriteFile(files[0], []byte("{corrupt"), 0o600)
	g3 := startGateway(t, cfg, b)
	if r := do(t, "GET", g3.url+"/x", nil, nil); r.status != 200 {
		t.Fatalf("with a corrupt file: %d", r.status)
	}
	if !strings.Contains(g3.logs.String(), "corrupt") {
		t.Errorf("corrupt file not reported: %s", g3.logs.String())
	}
}

func TestAbuseAutoBlock(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
admin: {listen: "127.0.0.1:0", audit_log: "@DIR@/audit.log"}
listen: {http: "127.0.0.1:0"}
abuse: {enabled: true, threshold: 30, window: 1m, block_ttl: 2s, weights: {"401": 10}, exempt: ["127.0.0.3"]}
consumers: [{username: u, jwt_secrets: [{key: k, secret: "0123456789abcdef0123456789abcdef"}]}]
services: [{name: api, targets: ["@B1@"]}]
routes:
  - {name: private, paths: ["/private"], service: api, plugins: [auth]}
  - {name: public, paths: ["/public"], service: api}
plugins: [{name: auth, plugin: jwt}]
`, b)
	abuser, exempt := clientFrom("127.0.0.2"), clientFrom("127.0.0.3")
	for i := 0; i < 4; i++ {
		if r := doFrom(t, abuser, "GET", g.url+"/private", nil, ""); r.status != 401 {
			t.Fatalf("401 #%d: %d", i, r.status)
		}
		doFrom(t, exempt, "GET", g.url+"/private", nil, "")
	}
	// Score 40 > 30: blocked everywhere, the exempt client is not.
	if r := doFrom(t, abuser, "GET", g.url+"/public", nil, ""); r.status != 403 {
		t.Fatalf("abuser not blocked: %d %s", r.status, r.body)
	}
	if r := doFrom(t, exempt, "GET", g.url+"/public", nil, ""); r.status != 200 {
		t.Fatalf("exempt client blocked: %d", r.status)
	}
	if !strings.Contains(g.logs.String(), "IP blocked for abuse") {
		t.Error("no warning log line")
	}
	m := string(do(t, "GET", g.admin+"/metrics", nil, nil).body)
	if !strings.Contains(m, "edgeguard_abuse_blocks_total 1") {
		t.Error("abuse metric missing")
	}
	// The block expires.
	time.Sleep(2500 * time.Millisecond)
	if r := doFrom(t, abuser, "GET", g.url+"/public", nil, ""); r.status != 200 {
		t.Fatalf("block did not expire: %d", r.status)
	}
	g.Shutdown()
	audit, _ := os.ReadFile(filepath.Join(filepath.Dir(g.file), "audit.log"))
	if !strings.Contains(string(audit), `"who":"abuse-detector","method":"BLOCK","path":"/blocklist/127.0.0.2/32"`) || !strings.Contains(string(audit), `"result":"expired"`) {
		t.Errorf("audit log: %s", audit)
	}
}

func TestRateLimitTiersByRoute(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}, {name: api-premium, targets: ["@B1@"]}]
routes:
  - {name: api-standard, hosts: ["api.example.com"], paths: ["/v1"], service: api, plugins: [rate-limit-standard]}
  - {name: api-premium, hosts: ["api.example.com"], paths: ["/v1/premium"], service: api-premium, plugins: [rate-limit-premium]}
plugins:
  - {name: rate-limit-standard, plugin: rate-limiting, config: {second: 10, minute: 100, hour: 1000, policy: local, limit_by: ip}}
  - {name: rate-limit-premium, plugin: rate-limiting, config: {second: 100, minute: 1000, hour: 10000, policy: local, limit_by: ip}}
`, b)
	host := map[string]string{"Host": "api.example.com"}
	var ok, limited int
	var last resp
	for i := 0; i < 15; i++ {
		r := do(t, "GET", g.url+"/v1/items", host, nil)
		switch r.status {
		case 200:
			ok++
		case 429:
			limited++
			last = r
		}
	}
	if ok < 10 || ok > 11 || limited == 0 {
		t.Fatalf("standard tier: %d ok, %d limited", ok, limited)
	}
	if last.header.Get("Retry-After") == "" || last.header.Get("X-RateLimit-Limit-Second") != "10" || !strings.Contains(string(last.body), "API rate limit exceeded") {
		t.Fatalf("429 headers/body: %v %s", last.header, last.body)
	}
	for i := 0; i < 30; i++ {
		if r := do(t, "GET", g.url+"/v1/premium/items", host, nil); r.status != 200 || r.header.Get("X-RateLimit-Limit-Second") != "100" {
			t.Fatalf("premium request %d: %d %v", i, r.status, r.header.Get("X-RateLimit-Limit-Second"))
		}
	}
}

const articleSchema = `{
  "type": "object",
  "required": ["name", "email"],
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "email": {"type": "string", "format": "email"},
    "phone": {"type": "string", "pattern": "^\\+?[0-9]{10,15}$"}
  },
  "additionalProperties": false
}`

func TestRequestValidationAndSize(t *testing.T) {
	b := startBackend(t, "api")
	indented := "        " + strings.ReplaceAll(articleSchema, "\n", "\n        ")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: users, paths: ["/users"], service: api, plugins: [request-validator, request-size-limiting]}]
plugins:
  - name: request-validator
    plugin: request-validator
    config:
      body_schema: |
`+indented+`
      allowed_content_types: [application/json]
      verbose_response: false
  - name: request-size-limiting
    plugin: request-size-limiting
    config: {allowed_payload_size: 10, size_unit: megabytes, require_content_length: true}
`, b)
	json := map[string]string{"Content-Type": "application/json"}
	if r := do(t, "POST", g.url+"/users", json, strings.NewReader(`{"name":"Ada","email":"ada@example.com","phone":"+4915112345678"}`)); r.status != 200 {
		t.Fatalf("valid body: %d %s", r.status, r.body)
	}
	before := b.hits.Load()
	for name, body := range map[string]string{
		"bad phone": `{"name":"Ada","email":"ada@example.com","phone":"call me"}`,
		"missing":   `{"name":"Ada"}`,
		"extra":     `{"name":"Ada","email":"ada@example.com","admin":true}`,
		"not json":  `{"name":`,
	} {
		r := do(t, "POST", g.url+"/users", json, strings.NewReader(body))
		if r.status != 400 || strings.Contains(string(r.body), "phone") {
			t.Errorf("%s: want 400 without details, got %d %s", name, r.status, r.body)
		}
	}
	if r := do(t, "POST", g.url+"/users", map[string]string{"Content-Type": "text/plain"}, strings.NewReader(`{}`)); r.status != 400 {
		t.Errorf("content type: %d", r.status)
	}
	// A 12 MB body is refused from its Content-Length after the first 8 KiB
	// (fasthttp's prefetch), without the rest being read or forwarded.
	out := raw(t, g.Addr().String(), "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 12582912\r\n\r\n"+strings.Repeat(" ", 9000))
	if !strings.HasPrefix(out, "HTTP/1.1 413") {
		t.Errorf("12 MB body: %.80q", out)
	}
	if b.hits.Load() != before {
		t.Fatal("an invalid request reached the backend")
	}
}

func TestIPRestrictionBehindTrustedProxy(t *testing.T) {
	b := startBackend(t, "admin")
	g := startGateway(t, `
trusted_proxies: ["127.0.0.1/32"]
services: [{name: admin-api, targets: ["@B1@"]}]
routes: [{name: admin-api, hosts: ["admin-api.example.com"], paths: ["/"], service: admin-api, plugins: [ip-restriction-admin]}]
plugins:
  - name: ip-restriction-admin
    plugin: ip-restriction
    config:
      allow:
        - 10.0.0.0/8       # Internal network
        - 192.168.1.100    # VPN exit
      deny: []
`, b)
	host := func(xff string) map[string]string {
		h := map[string]string{"Host": "admin-api.example.com"}
		if xff != "" {
			h["X-Forwarded-For"] = xff
		}
		return h
	}
	// Through the trusted proxy (127.0.0.1): the forwarded client decides.
	for xff, want := range map[string]int{"10.1.2.3": 200, "192.168.1.100": 200, "203.0.113.9": 403, "10.1.2.3, 203.0.113.9": 403, "203.0.113.9, 10.1.2.3": 200, "::ffff:10.9.9.9": 200} {
		if r := do(t, "GET", g.url+"/", host(xff), nil); r.status != want {
			t.Errorf("via trusted proxy, XFF %q: %d, want %d (%s)", xff, r.status, want, r.body)
		}
	}
	// A direct, untrusted client cannot get in by spoofing XFF.
	if r := doFrom(t, clientFrom("127.0.0.2"), "GET", g.url+"/", host("10.1.2.3"), ""); r.status != 403 || !strings.Contains(string(r.body), "127.0.0.2") {
		t.Errorf("spoofed XFF from an untrusted peer: %d %s", r.status, r.body)
	}
}

func TestBotDetection(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api, plugins: [bot-detection]}]
plugins:
  - name: bot-detection
    plugin: bot-detection
    config:
      deny: [curl, wget, python-requests, Go-http-client]
      allow: [GoogleBot, Bingbot]
`, b)
	for ua, want := range map[string]int{
		"curl/8.4.0": 403, "Wget/1.21.4": 403, "python-requests/2.31.0": 403, "Go-http-client/1.1": 403,
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)":    200,
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)":     200,
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36": 200,
	} {
		if r := do(t, "GET", g.url+"/", map[string]string{"User-Agent": ua}, nil); r.status != want {
			t.Errorf("%q: %d, want %d", ua, r.status, want)
		}
	}
}

// TestRateLimitTiersByConsumerAndClaim: one rate-limiting instance choosing
// its limits by the consumer's tier, and one by a JWT claim.
func TestRateLimitTiersByConsumerAndClaim(t *testing.T) {
	keys := jwttest.NewKeys()
	secret := base64.StdEncoding.EncodeToString(keys.Secret)
	b := startBackend(t, "api")
	g := startGateway(t, `
consumers:
  - {username: basic-co, tier: standard, jwt_secrets: [{key: basic-co, secret: "`+secret+`"}]}
  - {username: big-co, tier: premium, jwt_secrets: [{key: big-co, secret: "`+secret+`"}]}
services: [{name: api, targets: ["@B1@"]}]
routes:
  - {name: by-consumer, paths: ["/c"], service: api, plugins: [auth, rl-consumer]}
  - {name: by-claim, paths: ["/p"], service: api, plugins: [auth, rl-claim]}
plugins:
  - {name: auth, plugin: jwt, config: {secret_is_base64: true}}
  - name: rl-consumer
    plugin: rate-limiting
    config: {limit_by: consumer, tiers: {standard: {minute: 3}, premium: {minute: 30}}, default_tier: standard}
  - name: rl-claim
    plugin: rate-limiting
    config: {limit_by: consumer, tier_source: jwt.plan, tiers: {free: {minute: 2}, premium: {minute: 20}}, default_tier: free}
`, b)
	tok := func(iss, plan string) map[string]string {
		c := map[string]any{"iss": iss, "sub": iss + "-user", "exp": time.Now().Add(time.Hour).Unix()}
		if plan != "" {
			c["plan"] = plan
		}
		return map[string]string{"Authorization": "Bearer " + keys.Sign("HS256", "", c)}
	}
	okCount := func(path string, hdr map[string]string, n int) int {
		ok := 0
		for i := 0; i < n; i++ {
			if do(t, "GET", g.url+path, hdr, nil).status == 200 {
				ok++
			}
		}
		return ok
	}
	if n := okCount("/c", tok("basic-co", ""), 6); n != 3 {
		t.Errorf("standard consumer: %d admitted, want 3", n)
	}
	if n := okCount("/c", tok("big-co", ""), 10); n != 10 {
		t.Errorf("premium consumer: %d admitted, want 10", n)
	}
	if n := okCount("/p", tok("basic-co", "premium"), 8); n != 8 {
		t.Errorf("premium plan claim: %d admitted, want 8", n)
	}
	if n := okCount("/p", tok("big-co", ""), 5); n != 2 {
		t.Errorf("no plan claim (default free): %d admitted, want 2", n)
	}
}

// TestBotScoreThresholds: the article's behavioural score end to end. With
// frequency.threshold 3: a UA-less client without Accept-Language scores 0.4
// (forwarded untouched), then +0.3 once it is frequent = 0.7 (still not above
// the challenge score), a known-bot signature (crawlers group, not blocking)
// + no Accept-Language + frequency = 0.9 > 0.85 → 403; Accept-Language drops
// it to 0.8 → forwarded with X-Bot-Score.
func TestBotScoreThresholds(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api, plugins: [bots]}]
plugins:
  - name: bots
    plugin: bot-detection
    config:
      builtin: []
      score: {enabled: true, reject_score: 0.85, challenge_score: 0.7, frequency: {threshold: 3, window: 1m}}
`, b)
	crawler := map[string]string{"User-Agent": "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)"}
	r := do(t, "GET", g.url+"/", crawler, nil)
	if r.status != 200 {
		t.Fatalf("first crawler request (0.6): %d %s", r.status, r.body)
	}
	if _, ok := r.echo(t).Headers["X-Bot-Score"]; ok {
		t.Errorf("score 0.6 must not be marked")
	}
	for i := 0; i < 4; i++ {
		do(t, "GET", g.url+"/", crawler, nil)
	}
	if r := do(t, "GET", g.url+"/", crawler, nil); r.status != 403 {
		t.Fatalf("frequent crawler without Accept-Language (0.9): %d", r.status)
	}
	withLang := map[string]string{"User-Agent": crawler["User-Agent"], "Accept-Language": "en"}
	r = do(t, "GET", g.url+"/", withLang, nil)
	if r.status != 200 || r.echo(t).Headers["X-Bot-Score"] != "0.8" {
		t.Fatalf("frequent crawler with Accept-Language (0.8): %d %v", r.status, r.body)
	}
}

func TestIPRestrictionIPv6(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
trusted_proxies: ["127.0.0.1/32"]
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api, plugins: [ip]}]
plugins:
  - {name: ip, plugin: ip-restriction, config: {allow: ["2001:db8::/32", "10.0.0.0/8"], deny: ["2001:db8:bad::/48", "10.6.6.6"]}}
`, b)
	for xff, want := range map[string]int{
		"2001:db8::1": 200, "[2001:db8:1::5]:443": 200, "2001:db8:bad::1": 403, "2001:dead::1": 403,
		"10.1.1.1": 200, "::ffff:10.1.1.1": 200, "10.6.6.6": 403, "::ffff:10.6.6.6": 403,
	} {
		if r := do(t, "GET", g.url+"/", map[string]string{"X-Forwarded-For": xff}, nil); r.status != want {
			t.Errorf("XFF %s: %d, want %d", xff, r.status, want)
		}
	}
}

// TestClaimValuesInHeaders: a claim goes into an identity header only when
// it reads one way: with an array element holding a comma (which would add
// a role) or an object the header is not sent, a plain array is
// comma-joined; a claim in a URI path is one percent-encoded segment (a
// dot segment: 500).
func TestClaimValuesInHeaders(t *testing.T) {
	keys := jwttest.NewKeys()
	secret := base64.StdEncoding.EncodeToString(keys.Secret)
	b := startBackend(t, "api")
	g := startGateway(t, `
consumers:
  - {username: co, jwt_secrets: [{key: co, secret: "`+secret+`"}]}
services: [{name: api, targets: ["@B1@"]}]
routes:
  - {name: h, paths: ["/h"], service: api, plugins: [auth, roles]}
  - {name: u, paths: ["/u"], service: api, plugins: [auth, path]}
plugins:
  - {name: auth, plugin: jwt, config: {secret_is_base64: true}}
  - {name: roles, plugin: request-transformer, config: {add: {headers: ["X-User-Roles:$(jwt.roles)"]}}}
  - {name: path, plugin: request-transformer, config: {replace: {uri: "/users/$(jwt.sub)/orders"}}}
`, b)
	tok := func(claims map[string]any) map[string]string {
		claims["iss"], claims["exp"] = "co", time.Now().Add(time.Hour).Unix()
		return map[string]string{"Authorization": "Bearer " + keys.Sign("HS256", "", claims)}
	}
	if r := do(t, "GET", g.url+"/h", tok(map[string]any{"sub": "a", "roles": []string{"reader", "writer"}}), nil); r.echo(t).Headers["X-User-Roles"] != "reader,writer" {
		t.Errorf("plain array: %v", r.echo(t).Headers)
	}
	// Not sent at all, like a missing claim: the backend sees no roles.
	for name, roles := range map[string]any{"comma in an element": []string{"reader,admin", "x"}, "object": map[string]string{"a": "b"}} {
		r := do(t, "GET", g.url+"/h", tok(map[string]any{"sub": "a", "roles": roles}), nil)
		if _, sent := r.echo(t).Headers["X-User-Roles"]; r.status != 200 || sent {
			t.Errorf("%s: %d %v", name, r.status, r.echo(t).Headers)
		}
	}
	if e := do(t, "GET", g.url+"/u", tok(map[string]any{"sub": "../admin x?y#z"}), nil).echo(t); e.URI != "/users/..%2Fadmin%20x%3Fy%23z/orders" {
		t.Errorf("claim in the path: %q", e.URI)
	}
	if r := do(t, "GET", g.url+"/u", tok(map[string]any{"sub": ".."}), nil); r.status != 500 {
		t.Errorf("dot segment claim: %d", r.status)
	}
}

// TestFilterPeekAllKeepsXFF: a filter that reads a header with PeekAll (the
// validator reads every Content-Encoding line) must not change the
// X-Forwarded-For the gateway sends on: fasthttp reuses one buffer for
// PeekAll, and the gateway keeps the XFF lines it read with it.
func TestFilterPeekAllKeepsXFF(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
trusted_proxies: ["127.0.0.1/32"]
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api, plugins: [v]}]
plugins:
  - {name: v, plugin: request-validator, config: {body_schema: '{"type":"object"}'}}
`, b)
	hdr := map[string]string{"X-Forwarded-For": "198.51.100.7", "Content-Type": "application/json", "Content-Encoding": "identity"}
	r := do(t, "POST", g.url+"/x", hdr, strings.NewReader(`{"a":1}`))
	if e := r.echo(t); r.status != 200 || e.Headers["X-Forwarded-For"] != "198.51.100.7, 127.0.0.1" || e.Headers["X-Real-Ip"] != "198.51.100.7" {
		t.Fatalf("%d %v", r.status, e.Headers)
	}
}

// TestValidatorLimitBeforeBody: the validator's max_body_size counts
// before the body is read, as request-size-limiting's does: Expect:
// 100-continue with a longer Content-Length gets 417, not 100 Continue.
func TestValidatorLimitBeforeBody(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api, plugins: [v]}]
plugins:
  - {name: v, plugin: request-validator, config: {body_schema: '{"type":"object"}', max_body_size: 1000}}
`, b)
	out := raw(t, g.Addr().String(), "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 417") {
		t.Fatalf("%.80q", out)
	}
	out = raw(t, g.Addr().String(), "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 7\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 100 Continue") {
		t.Fatalf("within the limit: %.80q", out)
	}
}

// TestSharedLimitNotAbuse: a path bucket all clients share, used up by one
// client, gives the others 429s that do not count as their abuse (they
// would be blocked on every route); a per-IP limit's 429s do. The path
// compared is the request path, before strip_path, as Kong's.
func TestSharedLimitNotAbuse(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
admin: {listen: "127.0.0.1:0"}
listen: {http: "127.0.0.1:0"}
abuse: {enabled: true, threshold: 12, window: 1m, block_ttl: 1m}
services: [{name: api, targets: ["@B1@"]}]
routes:
  - {name: login, paths: ["/api"], service: api, strip_path: true, plugins: [shared]}
  - {name: mine, paths: ["/mine"], service: api, plugins: [per-ip]}
  - {name: open, paths: ["/open"], service: api}
plugins:
  - {name: shared, plugin: rate-limiting, config: {limit_by: path, path: /api/login, minute: 2}}
  - {name: per-ip, plugin: rate-limiting, config: {limit_by: ip, minute: 1}}
`, b)
	attacker, victim, control := clientFrom("127.0.0.2"), clientFrom("127.0.0.3"), clientFrom("127.0.0.4")
	for i := 0; i < 2; i++ {
		if r := doFrom(t, attacker, "POST", g.url+"/api/login", nil, ""); r.status != 200 || r.echo(t).URI != "/login" {
			t.Fatalf("attacker #%d: %d", i, r.status)
		}
	}
	for i := 0; i < 6; i++ { // 6 × 429 (weight 5) = 30 > 12, were they counted
		if r := doFrom(t, victim, "POST", g.url+"/api/login", nil, ""); r.status != 429 {
			t.Fatalf("victim #%d: %d (the shared bucket did not apply)", i, r.status)
		}
	}
	if r := doFrom(t, victim, "GET", g.url+"/open/x", nil, ""); r.status != 200 {
		t.Errorf("victim blocked by someone else's use of a shared limit: %d %s", r.status, r.body)
	}
	for i := 0; i < 7; i++ {
		doFrom(t, control, "GET", g.url+"/mine/x", nil, "")
	}
	if r := doFrom(t, control, "GET", g.url+"/open/x", nil, ""); r.status != 403 {
		t.Errorf("per-IP 429s not counted as abuse: %d", r.status)
	}
}
