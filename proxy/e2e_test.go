package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/proxy/upstream/upstreamtest"
)

const twoRoutes = `
services:
  - {name: api, targets: ["@B1@"]}
  - {name: admin, targets: ["@B2@"]}
routes:
  - {name: api, paths: ["/"], service: api}
  - {name: admin, paths: ["/admin"], service: admin}
  - {name: v1, hosts: ["api.example.com", "*.example.org"], paths: ["/v1"], service: admin, methods: [POST]}
`

func TestRoutingAnd404(t *testing.T) {
	api, admin := startBackend(t, "api"), startBackend(t, "admin")
	g := startGateway(t, strings.Replace(twoRoutes, `paths: ["/"], service: api`, `paths: ["/pub"], service: api`, 1), api, admin)

	if e := do(t, "GET", g.url+"/pub/x?q=1", nil, nil).echo(t); e.Backend != "api" || e.URI != "/pub/x?q=1" {
		t.Fatalf("got %+v", e)
	}
	if e := do(t, "GET", g.url+"/admin/users", nil, nil).echo(t); e.Backend != "admin" {
		t.Fatalf("got %+v", e)
	}
	if e := do(t, "POST", g.url+"/v1/x", map[string]string{"Host": "API.example.com"}, nil).echo(t); e.Backend != "admin" {
		t.Fatalf("exact host: %+v", e)
	}
	if e := do(t, "POST", g.url+"/v1/x", map[string]string{"Host": "a.example.org:8080"}, nil).echo(t); e.Backend != "admin" {
		t.Fatalf("wildcard host: %+v", e)
	}
	for _, tc := range []struct{ method, path, host string }{
		{"GET", "/nothing", ""}, {"GET", "/v1/x", "api.example.com"}, {"POST", "/v1/x", "other.com"},
	} {
		r := do(t, tc.method, g.url+tc.path, map[string]string{"Host": tc.host}, nil)
		if r.status != 404 || !strings.Contains(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("%v: want JSON 404, got %d %s", tc, r.status, r.body)
		}
		var m map[string]string
		if json.Unmarshal(r.body, &m) != nil || m["message"] == "" || m["request_id"] != r.header.Get("X-Request-ID") {
			t.Fatalf("404 body %s", r.body)
		}
	}
}

func TestNormalisationBypass(t *testing.T) {
	api, admin := startBackend(t, "api"), startBackend(t, "admin")
	g := startGateway(t, twoRoutes, api, admin)
	addr := g.Addr().String()
	// Each of these must either reach the admin route with path /admin... or be refused.
	toAdmin := []string{"//admin", "/./admin", "/v1/../admin", "/%61dmin", "/%2e/admin", "/x/%2E%2E/admin", "///admin//users", "/admin/./"}
	for _, p := range toAdmin {
		out := raw(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 200") || !strings.Contains(out, `"backend":"admin"`) || !strings.Contains(out, `"uri":"/admin`) {
			t.Errorf("%s: did not reach /admin normalised:\n%s", p, out)
		}
	}
	refused := []string{"/admin%2f..", "/admin%2F", "/x%2f../admin", "/\\admin", "/%5cadmin", "/admin%00", "/%C0%AEadmin", "/%c0%af..%c0%afadmin", "/%E0%80%AE%E0%80%AE/admin"}
	for _, p := range refused {
		out := raw(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 400") {
			t.Errorf("%q: want 400, got:\n%s", p, out)
		}
	}
	if api.hits.Load() != 0 {
		t.Errorf("api backend got %d requests; none should have gone there", api.hits.Load())
	}
}

// TestForwardedHeaders runs with responses streamed (the gateway's headers
// set through fasthttp's request header) and buffered (written into the
// request head by upstream.Target.Do).
func TestForwardedHeaders(t *testing.T) {
	for _, buffering := range []bool{false, true} {
		t.Run(fmt.Sprintf("response_buffering=%v", buffering), func(t *testing.T) { testForwardedHeaders(t, buffering) })
	}
}

func testForwardedHeaders(t *testing.T, buffering bool) {
	b := startBackend(t, "api")
	g := startGateway(t, fmt.Sprintf(`
trusted_proxies: ["127.0.0.1/32"]
services: [{name: api, targets: ["@B1@"], response_buffering: %v}]
routes:
  - {name: api, paths: ["/"], service: api}
  - {name: filtered, paths: ["/f"], service: api, plugins: [spoof]}
plugins:
  - {name: spoof, plugin: request-transformer, config: {add: {headers: ["X-Forwarded-Host:evil", "X-Real-IP:6.6.6.6", "X-Forwarded-For:6.6.6.6"]}}}
`, buffering), b)
	// From 127.0.0.1 (trusted): the right-most untrusted XFF entry is the client.
	r := do(t, "GET", g.url+"/x", map[string]string{"X-Forwarded-For": "6.6.6.6, 198.51.100.7", "Connection": "X-Hop", "X-Hop": "1", "Keep-Alive": "1", "Proxy-Authorization": "secret", "X-Request-ID": "abc-123"}, nil)
	e := r.echo(t)
	if e.Headers["X-Real-Ip"] != "198.51.100.7" || e.Headers["X-Forwarded-For"] != "6.6.6.6, 198.51.100.7, 127.0.0.1" {
		t.Fatalf("trusted peer: %v", e.Headers)
	}
	for _, h := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization"} {
		if _, ok := e.Headers[h]; ok {
			t.Errorf("hop-by-hop %s forwarded", h)
		}
	}
	if e.Headers["X-Request-Id"] != "abc-123" || r.header.Get("X-Request-ID") != "abc-123" {
		t.Errorf("request id from trusted proxy not kept: %v / %v", e.Headers["X-Request-Id"], r.header.Get("X-Request-ID"))
	}
	if e.Headers["X-Forwarded-Proto"] != "http" || e.Headers["X-Forwarded-Host"] == "" {
		t.Errorf("x-forwarded-*: %v", e.Headers)
	}

	// From 127.0.0.2 (untrusted): XFF is ignored and replaced, the request id regenerated.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	cl := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	req, _ := http.NewRequest("GET", g.url+"/x", nil)
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	req.Header.Set("X-Real-IP", "10.0.0.1")
	req.Header.Set("X-Request-ID", "spoofed")
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var e2 echo
	json.Unmarshal(body, &e2)
	if e2.Headers["X-Real-Ip"] != "127.0.0.2" || e2.Headers["X-Forwarded-For"] != "127.0.0.2" || e2.Headers["X-Request-Id"] == "spoofed" {
		t.Fatalf("untrusted peer: %v", e2.Headers)
	}
	if res.Header.Get("X-Request-ID") != e2.Headers["X-Request-Id"] {
		t.Errorf("request id returned %q, sent upstream %q", res.Header.Get("X-Request-ID"), e2.Headers["X-Request-Id"])
	}

	// A filter cannot set the gateway's own headers: they are replaced.
	e = do(t, "GET", g.url+"/f", map[string]string{"X-Forwarded-Proto": "https"}, nil).echo(t)
	if e.Headers["X-Forwarded-Host"] != g.Addr().String() || e.Headers["X-Real-Ip"] != "127.0.0.1" || e.Headers["X-Forwarded-For"] != "127.0.0.1" || e.Headers["X-Forwarded-Proto"] != "https" {
		t.Errorf("filter-set forwarded headers: %v", e.Headers)
	}
	// An untrusted client's own copies of every one of them are replaced.
	out := rawFrom(t, "127.0.0.2", g.Addr().String(), "GET /x HTTP/1.1\r\nHost: h.example\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\nx-real-ip: 6.6.6.6\r\nX-FORWARDED-FOR: 6.6.6.6\r\nX-Request-Id: spoofed\r\nte: trailers\r\nPROXY-CONNECTION: x\r\nx-bot-score: 0\r\nX-Gateway-identity: forged\r\nConnection: close\r\n\r\n")
	e3, ok := rawEcho(out)
	if !ok {
		t.Fatalf("no echo in:\n%s", out)
	}
	for k, want := range map[string]string{"X-Forwarded-Host": "h.example", "X-Forwarded-Proto": "http", "X-Real-Ip": "127.0.0.2", "X-Forwarded-For": "127.0.0.2"} {
		if e3.Headers[k] != want {
			t.Errorf("untrusted raw request: %s = %q, want %q (%v)", k, e3.Headers[k], want, e3.Headers)
		}
	}
	if rid := e3.Headers["X-Request-Id"]; rid == "" || strings.Contains(rid, "spoofed") {
		t.Errorf("untrusted raw request: X-Request-Id %q", rid)
	}
	for _, k := range []string{"Te", "Proxy-Connection", "X-Bot-Score", "X-Gateway-Identity"} {
		if v, ok := e3.Headers[k]; ok {
			t.Errorf("untrusted raw request: %s: %q forwarded", k, v)
		}
	}

	// Response hop-by-hop headers are not passed back.
	r = do(t, "GET", g.url+"/hop", nil, nil)
	if r.header.Get("X-Secret") != "" || r.header.Get("Keep-Alive") != "" {
		t.Errorf("response hop-by-hop leaked: %v", r.header)
	}
}

func TestUpstreamErrors(t *testing.T) {
	b := startBackend(t, "api")
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	g := startGateway(t, `
services:
  - {name: slow, targets: ["@B1@"], read_timeout: 200ms}
  - {name: slowbuf, targets: ["@B1@"], read_timeout: 200ms, response_buffering: true}
  - {name: dead, targets: ["`+deadAddr+`"], connect_timeout: 500ms}
routes:
  - {name: slow, paths: ["/sleep"], service: slow}
  - {name: slowbuf, paths: ["/sleepbuf"], service: slowbuf}
  - {name: dead, paths: ["/dead"], service: dead}
`, b)
	// Both transports (streamed and whole responses): 504 after the read
	// timeout (twice 200 ms: an idempotent request is tried once more).
	for _, p := range []string{"/sleep?ms=1000", "/sleepbuf?ms=1000"} {
		start := time.Now()
		r := do(t, "GET", g.url+p, nil, nil)
		if r.status != 504 || !bytes.Contains(r.body, []byte(`"message"`)) {
			t.Fatalf("%s timeout: want 504 JSON, got %d %s", p, r.status, r.body)
		}
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Errorf("%s: 504 after %v, want about 400ms", p, d)
		}
	}
	r := do(t, "GET", g.url+"/dead", nil, nil)
	if r.status != 502 || !bytes.Contains(r.body, []byte(`"message"`)) {
		t.Fatalf("refused: want 502 JSON, got %d %s", r.status, r.body)
	}
	if r := do(t, "GET", g.url+"/sleep?ms=10", nil, nil); r.status != 200 {
		t.Fatalf("fast request after a timeout: %d", r.status)
	}
}

func TestPassiveEjection(t *testing.T) {
	good := startBackend(t, "good")
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	g := startGateway(t, `
services:
  - name: api
    targets: ["@B1@", "`+deadAddr+`"]
    retries: 1
    healthchecks: {passive: {failures: 2, ejection: 30s}}
routes: [{name: api, paths: ["/"], service: api}]
`, good)
	for i := 0; i < 20; i++ {
		if r := do(t, "GET", g.url+"/x", nil, nil); r.status != 200 {
			t.Fatalf("request %d failed with %d: the healthy target must serve", i, r.status)
		}
	}
	r := do(t, "GET", g.admin+"/status", nil, nil)
	if !strings.Contains(string(r.body), `"ejected": [`+"\n"+`        "`+deadAddr) {
		t.Fatalf("dead target not ejected: %s", r.body)
	}
	m := do(t, "GET", g.admin+"/metrics", nil, nil)
	if !strings.Contains(string(m.body), `edgeguard_upstream_ejections_total{service="api",target="`+deadAddr+`"} 1`) {
		t.Fatalf("ejection metric missing")
	}
}

func TestSizeLimiting(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes:
  - {name: limited, paths: ["/limited"], service: api, plugins: [small]}
  - {name: strict, paths: ["/strict"], service: api, plugins: [needlen]}
  - {name: open, paths: ["/open"], service: api}
plugins:
  - {name: small, plugin: request-size-limiting, config: {allowed_payload_size: 1, size_unit: kilobytes}}
  - {name: needlen, plugin: request-size-limiting, config: {allowed_payload_size: 10, size_unit: megabytes, require_content_length: true}}
`, b)
	addr := g.Addr().String()
	// Content-Length over the limit: 413 before anything is forwarded.
	before := b.hits.Load()
	r := do(t, "POST", g.url+"/limited", nil, strings.NewReader(strings.Repeat("x", 1025)))
	if r.status != 413 || !strings.Contains(string(r.body), "Request size limit exceeded") {
		t.Fatalf("CL over: %d %s", r.status, r.body)
	}
	if b.hits.Load() != before {
		t.Fatal("oversized body reached the backend")
	}
	if r := do(t, "POST", g.url+"/limited", nil, strings.NewReader(strings.Repeat("x", 1024))); r.status != 200 || r.echo(t).BodyLen != 1024 {
		t.Fatalf("exactly at the limit: %d", r.status)
	}
	// Chunked over the limit: counted while streaming, 413, connection closed.
	chunk := strings.Repeat("y", 600)
	out := raw(t, addr, "POST /limited HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n"+chunk+"\r\n258\r\n"+chunk+"\r\n0\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 413") {
		t.Fatalf("chunked over limit: %s", out)
	}
	out = raw(t, addr, "POST /limited HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n258\r\n"+chunk+"\r\n0\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200") || !strings.Contains(out, `"body_len":600`) {
		t.Fatalf("chunked under limit: %s", out)
	}
	// require_content_length: 411 without a length, chunked is measured instead.
	out = raw(t, addr, "POST /strict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 411") {
		t.Fatalf("missing length: %s", out)
	}
	out = raw(t, addr, "POST /strict HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("with length: %s", out)
	}
	// A length over the route's limit is refused before the body is read:
	// fasthttp would otherwise wait for the body's first 8 KiB (here until
	// read_timeout, as only 10 bytes come).
	t0 := time.Now()
	out = raw(t, addr, "POST /limited HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n0123456789")
	if !strings.HasPrefix(out, "HTTP/1.1 413") || time.Since(t0) > time.Second {
		t.Fatalf("CL over the limit, body not sent: after %v: %.80q", time.Since(t0), out)
	}
	// Expect: 100-continue with a too-large length: 417 (Kong).
	out = raw(t, addr, "POST /limited HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
	if !strings.Contains(out, "HTTP/1.1 417") {
		t.Fatalf("expect: %s", out)
	}
	// A large body streams through without a limit on /open (50 MB, checked by hash).
	big := bytes.Repeat([]byte("0123456789abcdef"), 50<<16)
	sum := sha256.Sum256(big)
	r = do(t, "POST", g.url+"/open", nil, bytes.NewReader(big))
	if e := r.echo(t); e.BodyLen != len(big) || e.BodySHA != hex.EncodeToString(sum[:]) {
		t.Fatalf("large body: got %d bytes", e.BodyLen)
	}
}

func TestLargeResponseStreams(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	res, err := httpClient.Get(g.url + "/big?n=30000000")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if n != 30000000 {
		t.Fatalf("got %d bytes", n)
	}
}

func TestReloadUnderLoad(t *testing.T) {
	b1, b2 := startBackend(t, "one"), startBackend(t, "two")
	cfg := func(name string) string {
		return `
services: [{name: api, targets: ["@B1@"]}, {name: other, targets: ["@B2@"]}]
routes: [{name: ` + name + `, paths: ["/"], service: ` + map[string]string{"r1": "api", "r2": "other"}[name] + `}]
`
	}
	g := startGateway(t, cfg("r1"), b1, b2)
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := httpClient.Get(g.url + "/sleep?ms=2")
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		name := []string{"r1", "r2"}[i%2]
		g.rewrite(t, cfg(name), b1, b2)
		if _, err := g.Reload(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// An invalid file is rejected and the old config keeps serving.
	g.rewrite(t, "services: [{name: api, targets: [\"nope\"]}]\nroutes: [{name: x, service: missing, plugins: [ghost]}]\n")
	_, err := g.Reload()
	if err == nil || !strings.Contains(err.Error(), "edgeguard.yaml:") {
		t.Fatalf("invalid reload: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 100 {
		t.Fatalf("reload under load: %d ok, %d failed", ok.Load(), failed.Load())
	}
	t.Logf("reload under load: %d requests, 0 failed, 20 reloads", ok.Load())
	// Admin reload with the bad file answers 422 with the errors.
	r := do(t, "POST", g.admin+"/reload", nil, nil)
	if r.status != 422 || !strings.Contains(string(r.body), "no service named") {
		t.Fatalf("admin reload of a bad file: %d %s", r.status, r.body)
	}
}

func TestGracefulShutdown(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
server: {shutdown_timeout: 5s}
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.Get(g.url + "/sleep?ms=500")
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(150 * time.Millisecond)
	done := make(chan error)
	go func() { done <- g.Shutdown() }()
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ok.Load() != 10 {
		t.Fatalf("%d of 10 in-flight requests completed", ok.Load())
	}
	if _, err := net.DialTimeout("tcp", g.Addr().String(), 200*time.Millisecond); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestAdminAuth(t *testing.T) {
	b := startBackend(t, "api")
	os.Setenv("TEST_ADMIN_TOKEN", "s3cret-token-0123456789")
	g := startGateway(t, `
listen: {http: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0", token: "${TEST_ADMIN_TOKEN}", allow: ["127.0.0.1/32"], audit_log: "@DIR@/audit.log"}
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	if r := do(t, "GET", g.admin+"/status", nil, nil); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d", r.status)
	}
	if r := do(t, "GET", g.admin+"/status", map[string]string{"Authorization": "Bearer wrong"}, nil); r.status != 401 {
		t.Fatalf("wrong token: %d", r.status)
	}
	auth := map[string]string{"Authorization": "Bearer s3cret-token-0123456789"}
	if r := do(t, "GET", g.admin+"/status", auth, nil); r.status != 200 || !strings.Contains(string(r.body), `"routes": 1`) {
		t.Fatalf("good token: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", g.admin+"/healthz", nil, nil); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
	if r := do(t, "GET", g.admin+"/readyz", nil, nil); r.status != 200 {
		t.Fatalf("readyz: %d", r.status)
	}
	if r := do(t, "POST", g.admin+"/reload", auth, nil); r.status != 200 {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
	do(t, "GET", g.url+"/x", nil, nil)
	m := do(t, "GET", g.admin+"/metrics", auth, nil)
	for _, want := range []string{`edgeguard_http_requests_total{route="api",service="api",code="200"} 1`, `edgeguard_request_duration_seconds_bucket{route="api",service="api",le=`, `edgeguard_config_reloads_total{result="success"} 1`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Requests from a network outside admin.allow are refused even with the token.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	cl := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	req, _ := http.NewRequest("GET", g.admin+"/status", nil)
	req.Header.Set("Authorization", "Bearer s3cret-token-0123456789")
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Fatalf("outside allow list: %d", res.StatusCode)
	}
	// The audit log has every call with who and result.
	g.Shutdown()
	audit, _ := os.ReadFile(strings.Replace(g.file, "edgeguard.yaml", "audit.log", 1))
	lines := strings.Split(strings.TrimSpace(string(audit)), "\n")
	if len(lines) != 8 {
		t.Fatalf("audit log has %d lines, want 8:\n%s", len(lines), audit)
	}
	for _, want := range []string{`"result":"denied_token"`, `"who":"token","method":"POST","path":"/reload","status":200`, `"result":"denied_network"`} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
}

// TestAdminBrowserRequests: a page open in a browser on the gateway's host
// must not drive a tokenless loopback admin API (a cross-site form post, a
// DNS name rebound to 127.0.0.1), while tools and probes keep working.
func TestAdminBrowserRequests(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
listen: {http: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0", allow: ["127.0.0.1/32"], audit_log: "@DIR@/audit.log"}
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	self := strings.TrimPrefix(g.admin, "http://")
	block := `{"ip":"0.0.0.0/0","reason":"csrf"}`
	for _, c := range []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		want   int
	}{
		{"cross-site form post", "POST", "/blocklist", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403},
		{"null origin", "POST", "/blocklist", map[string]string{"Origin": "null"}, 403},
		{"rebound DNS name", "GET", "/status", map[string]string{"Host": "evil.example:" + strings.Split(self, ":")[1]}, 403},
		{"rebound, same origin", "POST", "/reload", map[string]string{"Host": "evil.example", "Origin": "http://evil.example"}, 403},
		{"fetch metadata cross-site", "GET", "/metrics", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"fetch metadata same-site", "GET", "/metrics", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"a tool", "GET", "/status", nil, 200},
		{"localhost", "GET", "/status", map[string]string{"Host": "localhost"}, 200},
		{"typed into the address bar", "GET", "/status", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"same origin", "GET", "/status", map[string]string{"Origin": "http://" + self, "Sec-Fetch-Site": "same-origin"}, 200},
		{"probe from any Host", "GET", "/healthz", map[string]string{"Host": "evil.example", "Origin": "http://evil.example"}, 200},
	} {
		var body io.Reader
		if c.method == "POST" {
			body = strings.NewReader(block)
		}
		if r := do(t, c.method, g.admin+c.path, c.hdr, body); r.status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.want)
		}
	}
	if r := do(t, "GET", g.url+"/x", nil, nil); r.status != 200 {
		t.Fatalf("the refused block took effect: %d %s", r.status, r.body)
	}
	// What the admin listener cannot read is answered in JSON and audited.
	for req, want := range map[string]string{
		"GARBAGE\r\n\r\n": "HTTP/1.1 400",
		"GET /status HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n": "HTTP/1.1 505",
	} {
		out := raw(t, self, req)
		if !strings.HasPrefix(out, want) || !strings.Contains(out, `{"message":`) {
			t.Errorf("admin %.20q: %.200q", req, out)
		}
	}
	// Probes come from the node's address, outside an operator allow list.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	cl := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/status": 403} {
		res, err := cl.Get(g.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("%s from outside admin.allow: %d, want %d", path, res.StatusCode, want)
		}
	}
	g.Shutdown()
	audit, _ := os.ReadFile(strings.Replace(g.file, "edgeguard.yaml", "audit.log", 1))
	if n := strings.Count(string(audit), `"result":"denied_browser"`); n != 6 {
		t.Errorf("audit log has %d denied_browser lines, want 6:\n%s", n, audit)
	}
	if n := strings.Count(string(audit), `"result":"bad_request"`); n != 2 {
		t.Errorf("audit log has %d bad_request lines, want 2:\n%s", n, audit)
	}
}

// With a token, which no page can send, any Host will do.
func TestAdminTokenAnyHost(t *testing.T) {
	b := startBackend(t, "api")
	os.Setenv("TEST_ADMIN_TOKEN", "s3cret-token-0123456789")
	g := startGateway(t, `
listen: {http: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0", token: "${TEST_ADMIN_TOKEN}"}
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	auth := map[string]string{"Authorization": "Bearer s3cret-token-0123456789", "Host": "admin.internal:8001"}
	if r := do(t, "GET", g.admin+"/status", auth, nil); r.status != 200 {
		t.Fatalf("token, named host: %d %s", r.status, r.body)
	}
	auth["Origin"] = "http://evil.example"
	if r := do(t, "GET", g.admin+"/status", auth, nil); r.status != 403 {
		t.Fatalf("token, cross-origin: %d %s", r.status, r.body)
	}
}

// TestReloadTellsWhatItCannotApply: a reload names the settings that wait
// for a restart, fails when a log the new file names cannot be opened
// (the old config and logs go on), and moves the audit log; SIGUSR1's
// reopen follows a rotated audit log.
func TestReloadTellsWhatItCannotApply(t *testing.T) {
	b := startBackend(t, "api")
	base := `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`
	g := startGateway(t, "listen: {http: \"127.0.0.1:0\"}\nadmin: {listen: \"127.0.0.1:0\", audit_log: \"@DIR@/audit.log\"}\n"+base, b)
	dir := filepath.Dir(g.file)
	audit := func(i int) string {
		return fmt.Sprintf("admin: {listen: \"127.0.0.1:0\", audit_log: %q}\n", filepath.Join(dir, fmt.Sprintf("audit%d.log", i)))
	}
	// Server timeouts and a listener's address wait for a restart; the
	// body limit does not.
	g.rewrite(t, "listen: {http: \"127.0.0.1:0\"}\n"+audit(1)+"server: {read_timeout: 7s, max_body_size: 1k}\n"+base, b)
	r := do(t, "POST", g.admin+"/reload", nil, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"restart_needed":["server.read_timeout"]`) {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
	g.rewrite(t, "listen: {http: \"127.0.0.1:1\"}\n"+audit(1)+"server: {read_timeout: 7s, max_body_size: 1k}\n"+base, b)
	if r = do(t, "POST", g.admin+"/reload", nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"restart_needed":["listen.http"]`) {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.url+"/x", nil, strings.NewReader(strings.Repeat("a", 2000))); r.status != 413 {
		t.Errorf("max_body_size after a reload: %d", r.status)
	}
	// The audit log moved with that reload.
	do(t, "GET", g.admin+"/status", nil, nil)
	if got := readFile(t, g.file, "audit1.log"); !strings.Contains(got, `"path":"/status"`) {
		t.Errorf("audit log not moved: %q", got)
	}
	// An access log that cannot be opened fails the reload.
	g.rewrite(t, "listen: {http: \"127.0.0.1:0\"}\n"+audit(1)+"access_log: {path: "+strconv.Quote(filepath.Join(dir, "missing", "access.log"))+"}\n"+base, b)
	r = do(t, "POST", g.admin+"/reload", nil, nil)
	if r.status != 422 || !strings.Contains(string(r.body), "access_log.path: cannot open") {
		t.Fatalf("unopenable access log: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.url+"/x", nil, strings.NewReader(strings.Repeat("a", 2000))); r.status != 413 {
		t.Errorf("the previous config does not serve: %d", r.status)
	}
	// So does an audit log that cannot be.
	g.rewrite(t, fmt.Sprintf("listen: {http: \"127.0.0.1:0\"}\nadmin: {listen: \"127.0.0.1:0\", audit_log: %q}\n", filepath.Join(dir, "missing", "audit.log"))+base, b)
	if r := do(t, "POST", g.admin+"/reload", nil, nil); r.status != 422 || !strings.Contains(string(r.body), "admin.audit_log: cannot open") {
		t.Fatalf("unopenable audit log: %d %s", r.status, r.body)
	}
	// A rotated audit log is reopened at its path (SIGUSR1).
	os.Rename(filepath.Join(dir, "audit1.log"), filepath.Join(dir, "audit1.log.1"))
	g.ReopenLogs()
	do(t, "GET", g.admin+"/healthz", nil, nil)
	if got := readFile(t, g.file, "audit1.log"); !strings.Contains(got, `"path":"/healthz"`) {
		t.Errorf("audit log not reopened after rotation: %q", got)
	}
}

func TestAdminRefusesPublicWithoutToken(t *testing.T) {
	dir := t.TempDir()
	f := dir + "/c.yaml"
	os.WriteFile(f, []byte("admin: {listen: \"0.0.0.0:8001\"}\nservices: [{name: a, targets: [\"127.0.0.1:1\"]}]\nroutes: [{name: a, service: a}]\n"), 0o600)
	err := Check(func() (*configT, *errsT) { return loadT(f) })
	if err == nil || !strings.Contains(err.Error(), "c.yaml:1:") || !strings.Contains(err.Error(), "admin.token") {
		t.Fatalf("got %v", err)
	}
}

func TestAccessLogLine(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	do(t, "GET", g.url+"/x?y=1", map[string]string{"User-Agent": "tester/1"}, nil)
	do(t, "GET", g.url+"/a%2fb", nil, nil)
	g.Shutdown()
	data, _ := os.ReadFile(strings.Replace(g.file, "edgeguard.yaml", "access.log", 1))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines: %s", data)
	}
	var ok, bad map[string]any
	json.Unmarshal([]byte(lines[0]), &ok)
	json.Unmarshal([]byte(lines[1]), &bad)
	if ok["status"] != 200.0 || ok["route"] != "api" || ok["path"] != "/x" || ok["user_agent"] != "tester/1" || ok["client_ip"] != "127.0.0.1" {
		t.Errorf("accepted line: %s", lines[0])
	}
	if bad["status"] != 400.0 || bad["rejected_by"] != "core" || bad["reason"] != "bad_path" {
		t.Errorf("rejected line: %s", lines[1])
	}
}

// TestStreamedResponseLogged: a response streamed from the upstream is
// logged and counted once its body is written, with the bytes sent and the
// time the transfer took; a request body is counted as received, not as
// announced.
func TestStreamedResponseLogged(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	const n = 4 << 20
	r := do(t, "GET", g.url+"/big?n="+strconv.Itoa(n), nil, nil)
	if r.status != 200 || len(r.body) != n {
		t.Fatalf("big: %d, %d bytes", r.status, len(r.body))
	}
	// A client that stops reading: the bytes that went out, not the body's.
	c, err := net.Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	io.WriteString(c, "GET /big-cut?n=67108864 HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(300 * time.Millisecond)
	c.Close()
	// An announced length that never came.
	out := raw(t, g.Addr().String(), "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 9000000000000000\r\n\r\nx")
	if !strings.HasPrefix(out, "HTTP/1.1 413") {
		t.Fatalf("huge length: %.40q", out)
	}
	deadlineAt := time.Now().Add(5 * time.Second)
	for strings.Count(readFile(t, g.file, "access.log"), "\n") < 3 && time.Now().Before(deadlineAt) {
		time.Sleep(20 * time.Millisecond)
	}
	m := do(t, "GET", g.admin+"/metrics", nil, nil)
	g.Shutdown()
	lines := strings.Split(strings.TrimSpace(readFile(t, g.file, "access.log")), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines:\n%s", strings.Join(lines, "\n"))
	}
	var whole, cut, huge map[string]any
	for _, l := range lines { // in the order they were finished
		var e map[string]any
		json.Unmarshal([]byte(l), &e)
		switch e["path"] {
		case "/big":
			whole = e
		case "/big-cut":
			cut = e
		case "/x":
			huge = e
		}
	}
	if whole["bytes_out"] != float64(n) {
		t.Errorf("streamed response: bytes_out %v, want %d: %v", whole["bytes_out"], n, whole)
	}
	if bo, _ := cut["bytes_out"].(float64); bo <= 0 || bo >= 64<<20 {
		t.Errorf("abandoned response: bytes_out %v: %v", cut["bytes_out"], cut)
	}
	if ms, _ := cut["latency_ms"].(map[string]any)["total"].(float64); ms < 200 {
		t.Errorf("abandoned response: latency %v ms, the transfer lasted 300 ms: %v", ms, cut)
	}
	if huge["status"] != 413.0 || huge["bytes_in"] != 0.0 {
		t.Errorf("announced length: %v", huge)
	}
	want := fmt.Sprintf(`edgeguard_bandwidth_bytes_total{route="api",service="api",direction="egress"} %d`, n+int(cut["bytes_out"].(float64))+int(huge["bytes_out"].(float64)))
	if !strings.Contains(string(m.body), want) {
		t.Errorf("metrics lack %s:\n%s", want, grepLines(string(m.body), "bandwidth"))
	}
	if strings.Contains(string(m.body), `direction="ingress"} 9`) {
		t.Errorf("ingress counts the announced length")
	}
}

// TestHTTP10ClientGetsNoChunks: a response of unknown length (chunked from
// the upstream) goes to an HTTP/1.0 client whole, with a Content-Length;
// one longer than the service's max_response_size is a 502.
func TestHTTP10ClientGetsNoChunks(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"], max_response_size: 1m}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	out := raw(t, g.Addr().String(), "GET /big?n=300000 HTTP/1.0\r\nHost: h\r\n\r\n")
	head, body, _ := strings.Cut(out, "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 200") || strings.Contains(strings.ToLower(head), "transfer-encoding") ||
		!strings.Contains(head, "Content-Length: 300000") || len(body) != 300000 {
		t.Fatalf("HTTP/1.0 client: %q, %d bytes of body", head, len(body))
	}
	for i := range body {
		if body[i] != byte('a'+i%(64<<10)%26) {
			t.Fatalf("body differs at %d", i)
		}
	}
	if out := raw(t, g.Addr().String(), "GET /big?n=2000000 HTTP/1.0\r\nHost: h\r\n\r\n"); !strings.HasPrefix(out, "HTTP/1.1 502") {
		t.Fatalf("over max_response_size: %.60q", out)
	}
	// HTTP/1.1 clients still get it streamed.
	if out := raw(t, g.Addr().String(), "GET /big?n=2000000 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"); !strings.Contains(out, "Transfer-Encoding: chunked") {
		t.Fatalf("HTTP/1.1 client: %.200q", out)
	}
}

// TestUnreadableRequestsLogged: requests fasthttp could not read get the
// same JSON body and X-Request-ID as every refusal, and an access-log line.
func TestUnreadableRequestsLogged(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
server: {read_timeout: 300ms, max_header_size: 1k}
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	cases := []struct {
		req    string
		status int
		reason string
	}{
		{"GARBAGE\r\n\r\n", 400, "bad_request"},
		{"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("a", 2000) + "\r\n\r\n", 431, "header_too_large"},
		{"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: 1", 408, "timeout"},
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "bad_request"}, // TLS to the plain port: at once
	}
	ids := map[string]bool{}
	for _, c := range cases {
		start := time.Now()
		out := raw(t, g.Addr().String(), c.req)
		if took := time.Since(start); c.status != 408 && took > 250*time.Millisecond {
			t.Errorf("%.20q answered after %v, not at once", c.req, took)
		}
		res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
		if err != nil {
			t.Fatalf("%.20q: %v in %q", c.req, err, out)
		}
		body, _ := io.ReadAll(res.Body)
		var m map[string]string
		json.Unmarshal(body, &m)
		rid := res.Header.Get("X-Request-ID")
		if res.StatusCode != c.status || rid == "" || m["request_id"] != rid || m["message"] == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%.20q: %d %v %s", c.req, res.StatusCode, res.Header, body)
		}
		ids[rid] = true
	}
	g.Shutdown()
	lines := strings.Split(strings.TrimSpace(readFile(t, g.file, "access.log")), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("want %d lines:\n%s", len(cases), strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		var e map[string]any
		json.Unmarshal([]byte(l), &e)
		if e["status"] != float64(cases[i].status) || e["reason"] != cases[i].reason || e["rejected_by"] != "core" ||
			!ids[e["request_id"].(string)] || e["method"] != "" || e["client_ip"] != "127.0.0.1" {
			t.Errorf("line %d: %s", i, l)
		}
	}
}

func TestStripPathAndIdentityHeaders(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes:
  - {name: api, paths: ["/api"], service: api, strip_path: true, plugins: [ident]}
plugins:
  - name: ident
    plugin: request-transformer
    config:
      add:
        headers: ["X-Client-IP:$(client_ip)", "X-User-ID:$(jwt.sub)"]
`, b)
	// The client's own copies never reach the backend, even when named in
	// Connection to have the gateway strip the gateway's header.
	r := do(t, "GET", g.url+"/api/items?x=1", map[string]string{"X-User-ID": "admin", "X-Client-IP": "6.6.6.6", "Connection": "X-Client-IP"}, nil)
	e := r.echo(t)
	if e.URI != "/items?x=1" {
		t.Errorf("strip_path: upstream URI %q", e.URI)
	}
	if _, ok := e.Headers["X-User-Id"]; ok {
		t.Errorf("spoofed X-User-ID reached the backend: %v", e.Headers)
	}
	if e.Headers["X-Client-Ip"] != "127.0.0.1" {
		t.Errorf("X-Client-IP = %q", e.Headers["X-Client-Ip"])
	}
	if e := do(t, "GET", g.url+"/api", nil, nil).echo(t); e.URI != "/" {
		t.Errorf("strip_path of the bare prefix: %q", e.URI)
	}
	// Spoofed copies in any letter case, sent twice, are gone too.
	out := raw(t, g.Addr().String(), "GET /api/x HTTP/1.1\r\nHost: h\r\nx-user-id: admin\r\nX-USER-ID: root\r\nx-client-ip: 6.6.6.6\r\nConnection: close\r\n\r\n")
	e2, ok := rawEcho(out)
	if !ok {
		t.Fatalf("no echo in:\n%s", out)
	}
	if _, ok := e2.Headers["X-User-Id"]; ok || e2.Headers["X-Client-Ip"] != "127.0.0.1" {
		t.Errorf("raw spoofed identity headers: %v", e2.Headers)
	}
}

// TestStripPathDotSegments: a prefix matches byte-wise, so "/api./admin"
// matches "/api" and, stripped, would reach the backend as "/./admin" (its
// "/admin"), past the policy of the route for "/api/admin": refused. A
// route strips the longest of its prefixes, the one the router matched.
func TestStripPathDotSegments(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes:
  - {name: api-admin, paths: ["/api/admin"], service: api, strip_path: true, plugins: [deny]}
  - {name: api, paths: ["/api"], service: api, strip_path: true}
  - {name: multi, paths: ["/p", "/p/v2"], service: api, strip_path: true}
plugins:
  - {name: deny, plugin: ip-restriction, config: {deny: ["127.0.0.1/32"]}}
`, b)
	for _, c := range []struct {
		target string
		status int
		uri    string // forwarded, when 200
	}{
		{"/api/admin/secret", 403, ""},
		{"/api./admin/secret", 400, ""},
		{"/api../admin/secret", 400, ""},
		{"/api%2e/admin/secret", 400, ""},
		{"/api%2E%2E/admin", 400, ""},
		{"/api..", 400, ""},
		{"/api.", 400, ""},
		{"/api.x/admin", 200, "/.x/admin"},
		{"/api.../admin", 200, "/.../admin"},
		{"/api/./admin/secret", 403, ""},
		{"/api/items?q=/../admin", 200, "/items?q=/../admin"},
		{"/p/v2/x", 200, "/x"},
		{"/p/v3", 200, "/v3"},
	} {
		out := raw(t, g.Addr().String(), "GET "+c.target+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(out, fmt.Sprintf("HTTP/1.1 %d ", c.status)) {
			t.Errorf("%s: got %.60q, want %d", c.target, out, c.status)
			continue
		}
		if c.status == 200 {
			if e, ok := rawEcho(out); !ok || e.URI != c.uri {
				t.Errorf("%s: forwarded %q, want %q", c.target, e.URI, c.uri)
			}
		}
	}
}

// TestRequestTrailers: a chunked request body with trailer fields is
// refused, read whole or streamed; the trailer never reaches the backend,
// where it would read like a header beside the gateway's own.
func TestRequestTrailers(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api, plugins: [ident]}]
plugins:
  - {name: ident, plugin: request-transformer, config: {add: {headers: ["X-User-ID:gateway"]}}}
`, b)
	big := "10000\r\n" + strings.Repeat("a", 0x10000) + "\r\n10\r\n" + strings.Repeat("b", 16) + "\r\n"
	for name, body := range map[string]string{
		"read whole": "5\r\nhello\r\n0\r\nX-User-ID: admin\r\n\r\n",
		"streamed":   big + "0\r\nX-User-ID: admin\r\n\r\n",
	} {
		out := raw(t, g.Addr().String(), "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"+body)
		if !strings.HasPrefix(out, "HTTP/1.1 400") || !strings.Contains(out, "trailer fields are not accepted") {
			t.Errorf("%s: %.120q", name, out)
		}
		if e := b.last.Load(); e != nil && (strings.Contains(e.Headers["X-User-Id"], "admin") || len(e.Trailers) > 0) {
			t.Errorf("%s: the trailer reached the backend: %v %v", name, e.Headers, e.Trailers)
		}
	}
	// Without trailer fields the same bodies pass.
	for name, body := range map[string]string{"read whole": scHello, "streamed": big + "0\r\n\r\n"} {
		out := raw(t, g.Addr().String(), "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+body)
		if e, ok := rawEcho(out); !ok || e.Headers["X-User-Id"] != "gateway" {
			t.Errorf("%s without trailers: %.120q", name, out)
		}
	}
}

// TestOptionsAsterisk: OPTIONS * is refused with a message that says so.
func TestOptionsAsterisk(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	out := raw(t, g.Addr().String(), "OPTIONS * HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 400") || !strings.Contains(out, "OPTIONS *") {
		t.Fatalf("%q", out)
	}
}

// TestClientForwardingHeaders: what a client says about forwarding, or
// about headers the gateway owns in another spelling, never reaches the
// backend from an untrusted peer.
func TestClientForwardingHeaders(t *testing.T) {
	b := startBackend(t, "api")
	cfg := `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`
	g := startGateway(t, cfg, b)
	trusting := startGateway(t, "trusted_proxies: [\"127.0.0.1/32\"]\n"+cfg, b)
	req := "GET /x HTTP/1.1\r\nHost: h\r\n" +
		"X_User_ID: admin\r\nX-User_Roles: admin\r\nX_Forwarded_For: 1.1.1.1\r\nX-Real_IP: 1.1.1.1\r\n" +
		"Forwarded: for=1.1.1.1;proto=https\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Prefix: /admin\r\nX-Forwarded-Path: /admin\r\n" +
		"X-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\n" +
		"Connection: keep-alive\r\nConnection: X-One\r\nX-One: 1\r\nX-Kept: yes\r\n" +
		"X-Request-ID: good-id\r\nX-Request-ID: other-id\r\nConnection: close\r\n\r\n"
	for name, addr := range map[string]string{"untrusted": g.Addr().String(), "trusted": trusting.Addr().String()} {
		e, ok := rawEcho(raw(t, addr, req))
		if !ok {
			t.Fatalf("%s: no echo", name)
		}
		for k, v := range e.Headers {
			if strings.Contains(k, "_") || k == "X-One" || k == "X-Original-Url" || k == "X-Rewrite-Url" {
				t.Errorf("%s: %s: %s reached the backend", name, k, v)
			}
		}
		if e.Headers["X-Kept"] != "yes" {
			t.Errorf("%s: X-Kept lost: %v", name, e.Headers)
		}
		if rid := e.Headers["X-Request-Id"]; strings.Contains(rid, "good-id") || strings.Contains(rid, "other-id") {
			t.Errorf("%s: X-Request-ID sent twice was kept: %q", name, rid)
		}
		for _, k := range []string{"Forwarded", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Path"} {
			_, there := e.Headers[k]
			if there != (name == "trusted") {
				t.Errorf("%s: %s forwarded: %v", name, k, there)
			}
		}
	}
	// server.headers_with_underscores: allow passes them, reject refuses.
	for policy, want := range map[string]string{"allow": "HTTP/1.1 200", "reject": "HTTP/1.1 400"} {
		g := startGateway(t, "server: {headers_with_underscores: "+policy+"}\n"+cfg, b)
		out := raw(t, g.Addr().String(), "GET /x HTTP/1.1\r\nHost: h\r\nX_Legacy: 1\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(out, want) {
			t.Errorf("%s: %.40q", policy, out)
		}
		if e, ok := rawEcho(out); policy == "allow" && (!ok || e.Headers["X_legacy"] != "1") {
			t.Errorf("allow: %v", e.Headers)
		}
	}
	// Every Connection line of a response counts too.
	up := upstreamtest.StartKeepAlive(t, func(c net.Conn, _, _ string) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: X-A\r\nX-A: 1\r\nConnection: X-B\r\nX-B: 2\r\nX-C: 3\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	g2 := startGateway(t, `
services: [{name: api, targets: ["`+up.Addr+`"]}]
routes: [{name: api, paths: ["/"], service: api}]
`)
	r := do(t, "GET", g2.url+"/", nil, nil)
	if r.status != 200 || r.header.Get("X-A") != "" || r.header.Get("X-B") != "" || r.header.Get("X-C") != "3" {
		t.Errorf("response hop-by-hop: %d %v", r.status, r.header)
	}
}

func TestResponseBuffering(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services:
  - {name: api, targets: ["@B1@"], response_buffering: true, max_response_size: 1m}
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	if r := do(t, "GET", g.url+"/x", nil, nil); r.status != 200 || r.echo(t).Backend != "api" {
		t.Fatalf("small response: %d", r.status)
	}
	if r := do(t, "GET", g.url+"/big?n=300000", nil, nil); r.status != 200 || len(r.body) != 300000 {
		t.Fatalf("response under the limit: %d, %d bytes", r.status, len(r.body))
	}
	r := do(t, "GET", g.url+"/big?n=3000000", nil, nil)
	if r.status != 502 {
		t.Fatalf("response over max_response_size: %d, %d bytes", r.status, len(r.body))
	}
	m := string(do(t, "GET", g.admin+"/metrics", nil, nil).body)
	if !strings.Contains(m, `edgeguard_upstream_errors_total{service="api",reason="response_too_large"} 1`) {
		t.Error("response_too_large not counted")
	}
}

// TestResponseHopByHopAnyCase: an upstream that writes hop-by-hop headers in
// lower case (and names another in Connection) gets them all stripped.
func TestResponseHopByHopAnyCase(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nconnection: x-secret\r\nx-secret: s\r\nkeep-alive: timeout=5\r\nupgrade: h2c\r\nx-kept: yes\r\ncontent-length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	g := startGateway(t, `
services: [{name: raw, targets: ["`+ln.Addr().String()+`"]}]
routes: [{name: raw, paths: ["/"], service: raw}]
`)
	out := raw(t, g.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	low := strings.ToLower(out)
	if !strings.HasPrefix(out, "HTTP/1.1 200") || !strings.Contains(low, "x-kept: yes") {
		t.Fatalf("response: %q", out)
	}
	for _, h := range []string{"x-secret:", "keep-alive:", "upgrade:"} {
		if strings.Contains(low, h) {
			t.Errorf("%s reached the client: %q", h, out)
		}
	}
}

// TestForwardedRequestLine checks the request line the upstream receives:
// the normalised path with reserved characters still percent-encoded and
// the query as sent, with and without a filter that parses the URI again
// (a query edit) and with strip_path.
func TestForwardedRequestLine(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes:
  - {name: plain, paths: ["/v1"], service: api}
  - {name: edit, paths: ["/q"], service: api, plugins: [addq]}
  - {name: strip, paths: ["/s"], service: api, strip_path: true, plugins: [addq]}
plugins:
  - {name: addq, plugin: request-transformer, config: {add: {querystring: ["added:yes"]}}}
`, b)
	addr := g.Addr().String()
	cases := []struct{ target, want string }{
		{"/v1/./a%2Bb//%25x?q=%2F&r", "/v1/a%2Bb/%25x?q=%2F&r"},
		{"/v1/%61%3F?", "/v1/a%3F"},
		{"http://other.example/v1/x/../y?z=1#frag", "/v1/y?z=1"},
		{"/q/a%2Bb/./c?q=%2F", "/q/a%2Bb/c?q=%2F&added=yes"},
		{"/q//a%2Bb", "/q/a%2Bb?added=yes"},
		{"/s/a%2Bb?x=1", "/a%2Bb?x=1&added=yes"},
	}
	for _, tc := range cases {
		out := raw(t, addr, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if e, ok := rawEcho(out); !strings.HasPrefix(out, "HTTP/1.1 200") || !ok || e.URI != tc.want {
			t.Errorf("%s: want upstream URI %q, got:\n%s", tc.target, tc.want, out)
		}
	}
}

// TestUpstreamBreaksOffMidBody: an upstream that closes before the body it
// announced is complete. A body read whole (small, or a buffering service)
// becomes a 502 with the JSON body; a streamed one has sent its head
// already, so the client gets fewer bytes than announced and a closed
// connection, never a response that looks whole. The gateway goes on
// serving.
func TestUpstreamBreaksOffMidBody(t *testing.T) {
	cut, _ := upstreamtest.OneShot(t, func(line string) string {
		n := 100 // announced; half is sent
		if strings.Contains(line, "/big") {
			n = 200 << 10
		}
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", n, strings.Repeat("z", n/2))
	})
	good := startBackend(t, "good")
	g := startGateway(t, `
services:
  - {name: cut, targets: ["`+cut+`"]}
  - {name: cutbuf, targets: ["`+cut+`"], response_buffering: true}
  - {name: good, targets: ["@B1@"]}
routes:
  - {name: cut, paths: ["/cut"], service: cut}
  - {name: cutbuf, paths: ["/buf"], service: cutbuf}
  - {name: good, paths: ["/good"], service: good}
`, good)
	for _, p := range []string{"/cut/small", "/buf/small", "/buf/big"} {
		if r := do(t, "GET", g.url+p, nil, nil); r.status != 502 || !bytes.Contains(r.body, []byte(`"message"`)) {
			t.Errorf("%s: want 502 JSON, got %d %s", p, r.status, r.body)
		}
	}
	out := raw(t, g.Addr().String(), "GET /cut/big HTTP/1.1\r\nHost: x\r\n\r\n")
	head, body, _ := strings.Cut(out, "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 200") || !strings.Contains(head, "Content-Length: 204800") || len(body) >= 200<<10 {
		t.Errorf("streamed body cut short: head %q, %d body bytes", head, len(body))
	}
	if r := do(t, "GET", g.url+"/good", nil, nil); r.status != 200 {
		t.Errorf("after the broken upstream: %d", r.status)
	}
}

// TestStreamedResponseTrailers: the trailer fields of a chunked upstream
// response reach the client after the last chunk.
func TestStreamedResponseTrailers(t *testing.T) {
	addr, _ := upstreamtest.OneShot(t, func(string) string {
		return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nContent-Type: text/plain\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n"
	})
	g := startGateway(t, `
services: [{name: t, targets: ["`+addr+`"]}]
routes: [{name: t, paths: ["/"], service: t}]
`)
	out := raw(t, g.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200") || !strings.HasSuffix(out, "5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n") {
		t.Errorf("chunked response with a trailer:\n%q", out)
	}
}

// TestUpstreamHost: the upstream gets the target's address as its Host, or
// the client's with preserve_host, exactly once; for requests read whole
// and for streamed (chunked) uploads, and when a refused target makes the
// request go to the next one.
func TestUpstreamHost(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services:
  - {name: api, targets: ["@B1@"]}
  - {name: two, targets: ["127.0.0.1:1", "@B1@"], retries: 1}
routes:
  - {name: api, paths: ["/a"], service: api}
  - {name: keep, paths: ["/k"], service: api, preserve_host: true}
  - {name: two, paths: ["/t"], service: two}
`, b)
	upload := func() io.Reader { // no length: sent chunked, and streamed on
		return io.MultiReader(strings.NewReader(strings.Repeat("u", 1<<20)))
	}
	for _, tc := range []struct {
		path, want string
		upload     bool
	}{
		{"/a/x", b.addr, false},
		{"/a/x", b.addr, true},
		{"/k/x", "client.example", false},
		{"/k/x", "client.example", true},
		{"/t/1", b.addr, false},
		{"/t/2", b.addr, false},
		{"/t/3", b.addr, true},
		{"/t/4", b.addr, true},
	} {
		method, body := "GET", io.Reader(nil)
		if tc.upload {
			method, body = "POST", upload()
		}
		r := do(t, method, g.url+tc.path, map[string]string{"Host": "client.example"}, body)
		e := r.echo(t)
		if r.status != 200 || e.Headers["Host"] != tc.want {
			t.Errorf("%s %s: status %d, upstream Host %q, want %q", method, tc.path, r.status, e.Headers["Host"], tc.want)
		}
		if tc.upload && (!e.Chunked || e.BodyLen != 1<<20) {
			t.Errorf("%s %s: upload chunked=%v len=%d", method, tc.path, e.Chunked, e.BodyLen)
		}
	}
	// Some of the requests to "two" went to the refused target first.
	m := string(do(t, "GET", g.admin+"/metrics", nil, nil).body)
	if !strings.Contains(m, `edgeguard_upstream_errors_total{service="two",reason="connection_refused"}`) {
		t.Errorf("no request tried the refused target:\n%s", m)
	}
}

// TestLingeringCloseAfter413: a client still sending a body the gateway
// refused gets the 413 and a clean end of the connection (FIN), not a
// reset: the close lingers, reading and discarding the rest. Without it
// the client's writes failed with "connection reset" a few hundred KB in,
// and a reset can destroy the response before the client reads it.
func TestLingeringCloseAfter413(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: limited, paths: ["/"], service: api, plugins: [small]}]
plugins: [{name: small, plugin: request-size-limiting, config: {allowed_payload_size: 1, size_unit: kilobytes}}]
`, b)
	for _, head := range []string{
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8000000\r\n\r\n",              // refused before the body
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7a1200\r\n", // counted while it streams
	} {
		c, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		werr := make(chan error, 1)
		go func() {
			if _, err := io.WriteString(c, head); err != nil {
				werr <- err
				return
			}
			_, err := c.Write(bytes.Repeat([]byte("x"), 8000000))
			werr <- err
		}()
		out, rerr := io.ReadAll(c)
		if err := <-werr; err != nil {
			t.Errorf("%q: the client's writes failed: %v", head, err)
		}
		if rerr != nil || !strings.HasPrefix(string(out), "HTTP/1.1 413") {
			t.Errorf("%q: want a 413 and a clean close, got %v, %.60q", head, rerr, out)
		}
		c.Close()
	}
}
