package httplog

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// collector is a real HTTP log collector on loopback.
type collector struct {
	addr   string
	mu     sync.Mutex
	bodies [][]byte
	auth   []string
	custom []string
	status int // answer with this status (default 200)
	got    chan struct{}
	srv    *fasthttp.Server
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{addr: ln.Addr().String(), got: make(chan struct{}, 10000), status: 200}
	c.srv = &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
		c.mu.Lock()
		c.bodies = append(c.bodies, append([]byte(nil), rc.PostBody()...))
		c.auth = append(c.auth, string(rc.Request.Header.Peek("Authorization")))
		c.custom = append(c.custom, string(rc.Request.Header.Peek("X-Collector-Key")))
		st := c.status
		c.mu.Unlock()
		rc.SetStatusCode(st)
		c.got <- struct{}{}
	}}
	go c.srv.Serve(ln)
	t.Cleanup(func() { c.srv.Shutdown() })
	return c
}

func (c *collector) setStatus(s int) { c.mu.Lock(); c.status = s; c.mu.Unlock() }

// entries returns every entry received (arrays flattened).
func (c *collector) entries(t *testing.T) []map[string]any {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, b := range c.bodies {
		if len(b) > 0 && b[0] == '[' {
			var arr []map[string]any
			if err := json.Unmarshal(b, &arr); err != nil {
				t.Fatalf("bad batch %s: %v", b, err)
			}
			out = append(out, arr...)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("bad entry %s: %v", b, err)
		}
		out = append(out, m)
	}
	return out
}

func (c *collector) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if len(c.entries(t)) >= n {
			return
		}
		select {
		case <-c.got:
		case <-deadline:
			t.Fatalf("collector got %d entries, want %d", len(c.entries(t)), n)
		}
	}
}

type claims map[string]string

func (c claims) AppendClaim(dst []byte, path string) ([]byte, bool) {
	v, ok := c[path]
	return append(dst, v...), ok
}

var consumer = &filters.Consumer{ID: "alice-id", Username: "alice", CustomID: "c-1", Tier: "gold"}

func build(t testing.TB, yaml string) *Filter {
	t.Helper()
	env := filtertest.Env(t)
	env.InstanceName = "audit"
	f := filtertest.MustBuild(t, env, Name, yaml).(*Filter)
	if tt, ok := t.(*testing.T); ok {
		tt.Cleanup(func() { f.Close() })
	}
	return f
}

func request(i int) *filtertest.Request {
	r := filtertest.NewRequest("POST", fmt.Sprintf("/v1/items?page=%d&tag=a&tag=b&flag&q=a%%20b", i), "203.0.113.7")
	r.RC.Request.Header.Set("Host", "api.example.com")
	r.RC.Request.Header.Set("Authorization", "Bearer secret-token")
	r.RC.Request.Header.Set("Cookie", "sid=s3cr3t")
	r.RC.Request.Header.Set("X-Api-Key", "k-123")
	r.RC.Request.Header.Set("X-Tenant", "acme")
	r.RC.Request.SetBodyString(`{"a":1}`)
	r.Ctx.Path = []byte("/v1/items")
	r.Ctx.Consumer = consumer
	r.Ctx.Claims = claims{"sub": "user-42", "email": "a@example.com"}
	r.Ctx.UpstreamDur = 3 * time.Millisecond
	r.Ctx.UpstreamStatus = 200
	r.Ctx.Start = time.Now().Add(-5 * time.Millisecond)
	r.RC.Response.SetStatusCode(201)
	r.RC.Response.Header.Set("Set-Cookie", "sid=new")
	r.RC.Response.SetBodyString(`{"id":7}`)
	return r
}

func TestDeliverKongEntry(t *testing.T) {
	col := newCollector(t)
	f := build(t, fmt.Sprintf(`
http_endpoint: http://user:p%%40ss@%s/logs
headers: {X-Collector-Key: k1}
redact_headers: [X-Api-Key]
custom_fields: {user_id: "$(jwt.sub)", auth.email: "$(jwt.email)", auth.tier: "$(consumer.tier)", missing: "$(jwt.nope)"}
`, col.addr))
	r := request(1)
	f.Log(&r.Ctx)
	col.wait(t, 1)
	e := col.entries(t)[0]
	if col.auth[0] != "Basic dXNlcjpwQHNz" { // user:p@ss
		t.Errorf("auth %q", col.auth[0])
	}
	if col.custom[0] != "k1" {
		t.Errorf("configured header %q", col.custom[0])
	}
	req := e["request"].(map[string]any)
	hdr := req["headers"].(map[string]any)
	for k, want := range map[string]string{"authorization": "REDACTED", "cookie": "REDACTED", "x-api-key": "REDACTED",
		"x-tenant": "acme", "host": "api.example.com"} {
		if hdr[k] != want {
			t.Errorf("request.headers[%s] = %v, want %q", k, hdr[k], want)
		}
	}
	if req["id"] != "test-request-id" || req["method"] != "POST" || req["uri"] != "/v1/items?page=1&tag=a&tag=b&flag&q=a%20b" ||
		req["url"] != "http://api.example.com/v1/items?page=1&tag=a&tag=b&flag&q=a%20b" {
		t.Errorf("request: %v", req)
	}
	qs := fmt.Sprint(req["querystring"])
	if qs != "map[flag:true page:1 q:a b tag:[a b]]" {
		t.Errorf("querystring %s", qs)
	}
	if req["size"].(float64) < 7 {
		t.Errorf("request.size %v", req["size"])
	}
	resp := e["response"].(map[string]any)
	if resp["status"] != 201.0 || resp["headers"].(map[string]any)["set-cookie"] != "REDACTED" || resp["size"].(float64) < 8 {
		t.Errorf("response %v", resp)
	}
	lat := e["latencies"].(map[string]any)
	if lat["proxy"] != 3.0 || lat["request"].(float64) < 5 || lat["kong"].(float64) < 2 {
		t.Errorf("latencies %v", lat)
	}
	if e["client_ip"] != "203.0.113.7" || e["route"].(map[string]any)["name"] != "test-route" ||
		e["service"].(map[string]any)["name"] != "test-service" || e["upstream_uri"] != "/v1/items?page=1&tag=a&tag=b&flag&q=a%20b" {
		t.Errorf("entry %v", e)
	}
	if c := e["consumer"].(map[string]any); c["username"] != "alice" || c["id"] != "alice-id" || c["custom_id"] != "c-1" {
		t.Errorf("consumer %v", c)
	}
	if st := e["started_at"].(float64); st < float64(time.Now().Add(-time.Minute).UnixMilli()) {
		t.Errorf("started_at %v", st)
	}
	if e["user_id"] != "user-42" || fmt.Sprint(e["auth"]) != "map[email:a@example.com tier:gold]" {
		t.Errorf("custom fields: user_id=%v auth=%v", e["user_id"], e["auth"])
	}
	if v, ok := e["missing"]; !ok || v != nil {
		t.Errorf("absent custom field: %v %v", v, ok)
	}
	raw := string(col.bodies[0])
	for _, secret := range []string{"secret-token", "s3cr3t", "k-123", "sid=new", "p@ss"} {
		if strings.Contains(raw, secret) {
			t.Errorf("entry leaks %q: %s", secret, raw)
		}
	}
}

func TestRejectedEntry(t *testing.T) {
	col := newCollector(t)
	f := build(t, "http_endpoint: http://"+col.addr+"/")
	r := filtertest.NewRequest("GET", "/x", "2001:db8::1")
	r.Ctx.RejectedBy, r.Ctx.RejectReason = "size", "size_exceeded"
	r.RC.Response.SetStatusCode(413)
	f.Log(&r.Ctx)
	col.wait(t, 1)
	e := col.entries(t)[0]
	if e["latencies"].(map[string]any)["proxy"] != -1.0 || e["client_ip"] != "2001:db8::1" {
		t.Errorf("%v", e)
	}
	if eg := e["edgeguard"].(map[string]any); eg["rejected_by"] != "size" || eg["reason"] != "size_exceeded" {
		t.Errorf("edgeguard: %v", eg)
	}
	if _, ok := e["consumer"]; ok {
		t.Errorf("consumer without one: %v", e)
	}
}

func TestBatching(t *testing.T) {
	col := newCollector(t)
	f := build(t, "http_endpoint: http://"+col.addr+"/\nqueue: {max_batch_size: 5, max_coalescing_delay: 0.3}")
	for i := 0; i < 12; i++ {
		r := request(i)
		f.Log(&r.Ctx)
	}
	col.wait(t, 12)
	for deadline := time.Now().Add(5 * time.Second); f.Stats().Sent != 12 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	sizes := []int{}
	for _, b := range col.bodies {
		var arr []json.RawMessage
		if err := json.Unmarshal(b, &arr); err != nil {
			t.Fatalf("batch is not a JSON array: %s", b)
		}
		sizes = append(sizes, len(arr))
	}
	// 12 entries logged at once: two full batches, then the rest after the
	// coalescing delay.
	if fmt.Sprint(sizes) != "[5 5 2]" {
		t.Errorf("batch sizes %v, want [5 5 2]", sizes)
	}
	if s := f.Stats(); s.Sent != 12 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestRetryThenDeliver(t *testing.T) {
	col := newCollector(t)
	col.setStatus(503)
	f := build(t, "http_endpoint: http://"+col.addr+"/\nqueue: {initial_retry_delay: 0.02, max_retry_time: 10}")
	r := request(0)
	f.Log(&r.Ctx)
	<-col.got
	<-col.got
	col.setStatus(200)
	deadline := time.Now().Add(5 * time.Second)
	for f.Stats().Sent != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered after retries: %+v", f.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := f.Stats(); s.SendErrors < 2 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestCollectorDown(t *testing.T) {
	env := filtertest.Env(t)
	env.InstanceName = "down"
	f := filtertest.MustBuild(t, env, Name, "http_endpoint: http://"+deadAddr(t)+"/\ntimeout: 200\nqueue: {max_entries: 50, max_retry_time: 30, initial_retry_delay: 0.05}").(*Filter)
	f.w.budget = 200 * time.Millisecond
	r := request(0)
	const n = 5000
	start := time.Now()
	var worst time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		f.Log(&r.Ctx)
		if d := time.Since(t0); d > worst {
			worst = d
		}
	}
	avg := time.Since(start) / n
	t.Logf("Log with the collector down: avg %v, worst %v per call", avg, worst)
	if avg > 50*time.Microsecond {
		t.Errorf("Log too slow with the collector down: %v", avg)
	}
	s := f.Stats()
	// at most the queue plus the batch in flight is kept
	if s.Dropped < n-51 || s.Queued > 50 {
		t.Errorf("stats %+v", s)
	}
	var sb strings.Builder
	env.Metrics.WritePrometheus(&sb)
	want := fmt.Sprintf(`edgeguard_http_log_dropped_total{plugin="down"} %d`, s.Dropped)
	if !strings.Contains(sb.String(), want) {
		t.Errorf("metrics lack %q:\n%s", want, sb.String())
	}
	t0 := time.Now()
	f.Close()
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Close took %v with a 200ms flush budget", d)
	}
	if s := f.Stats(); s.Dropped+s.Sent != n || s.Sent != 0 {
		t.Errorf("after close: %+v (every entry must be dropped and counted)", s)
	}
}

func TestMaxBytes(t *testing.T) {
	f := build(t, "http_endpoint: http://"+deadAddr(t)+"/\nqueue: {max_bytes: 8000, max_entries: 1000}")
	f.Close() // stop the sender so the queue only fills
	r := request(0)
	for i := 0; i < 100; i++ {
		f.Log(&r.Ctx)
	}
	s := f.Stats()
	if s.Queued == 0 || s.Queued >= 20 || s.Dropped != 100-s.Queued {
		t.Errorf("stats %+v", s)
	}
}

func TestFlushOnClose(t *testing.T) {
	col := newCollector(t)
	env := filtertest.Env(t)
	f := filtertest.MustBuild(t, env, Name, "http_endpoint: http://"+col.addr+"/\nqueue: {max_batch_size: 100, max_coalescing_delay: 60}").(*Filter)
	for i := 0; i < 30; i++ {
		r := request(i)
		f.Log(&r.Ctx)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(col.entries(t)); n != 0 {
		t.Fatalf("sent %d before the coalescing delay", n)
	}
	t0 := time.Now()
	f.Close()
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	if n := len(col.entries(t)); n != 30 {
		t.Errorf("flushed %d entries on Close, want 30", n)
	}
}

func TestSharedAcrossReloads(t *testing.T) {
	col := newCollector(t)
	env := filtertest.Env(t)
	yaml := "http_endpoint: http://" + col.addr + "/"
	old := filtertest.MustBuild(t, env, Name, yaml).(*Filter)
	// the reload builds the new config first, then closes the old one
	cur := filtertest.MustBuild(t, env, Name, yaml+"\ncustom_fields: {v: \"2\"}").(*Filter)
	if old.w != cur.w {
		t.Fatal("same transport settings must share the worker")
	}
	old.Close()
	r := request(0)
	cur.Log(&r.Ctx)
	col.wait(t, 1)
	if col.entries(t)[0]["v"] != "2" {
		t.Errorf("entry %v", col.entries(t)[0])
	}
	other := filtertest.MustBuild(t, env, Name, yaml+"\ntimeout: 500").(*Filter)
	if other.w == cur.w {
		t.Error("changed settings must get their own worker")
	}
	other.Close()
	cur.Close()
	cur.Close() // idempotent
	if cur.w.running {
		t.Error("worker still running after the last Close")
	}
	// a later config using the same settings starts it again
	again := filtertest.MustBuild(t, env, Name, yaml).(*Filter)
	defer again.Close()
	again.Log(&r.Ctx)
	col.wait(t, 2)
}

func TestTLSVerified(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	f := build(t, "http_endpoint: "+srv.URL+"/\ntimeout: 2000\nqueue: {max_retry_time: 0}")
	r := request(0)
	f.Log(&r.Ctx)
	deadline := time.Now().Add(5 * time.Second)
	for f.Stats().Dropped == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := f.Stats(); s.Sent != 0 || s.SendErrors == 0 || s.Dropped != 1 {
		t.Errorf("self-signed collector must be refused: %+v", s)
	}
}

func TestConfigErrors(t *testing.T) {
	env := filtertest.Env(t)
	for _, tc := range []struct{ yaml, want string }{
		{"method: POST", "config.http_endpoint: http-log: required"},
		{"http_endpoint: ftp://x/", "scheme must be http or https"},
		{"http_endpoint: http:///x", "missing host"},
		{"http_endpoint: http://x/\nmethod: GET", "config.method: http-log: must be POST, PUT or PATCH"},
		{"http_endpoint: http://x/\ntimeout: 0", "config.timeout: http-log: must be > 0"},
		{"http_endpoint: http://x/\ncontent_type: text/plain", "config.content_type"},
		{"http_endpoint: http://x/\nheaders: {Host: y}", "config.headers.Host: http-log: cannot be set (it is set by the plugin)"},
		{"http_endpoint: http://u:p@x/\nheaders: {Authorization: y}", "also given by the userinfo"},
		{"http_endpoint: http://x/\nqueue: {max_batch_size: 0}", "config.queue.max_batch_size: http-log: must be between 1"},
		{"http_endpoint: http://x/\nqueue: {concurrency_limit: 0}", "config.queue.concurrency_limit"},
		{"http_endpoint: http://x/\nqueue: {max_entries: 5, max_batch_size: 10}", "must not exceed max_entries"},
		{"http_endpoint: http://x/\nqueue: {max_batch_size: 2}\nqueue_size: 3", "config.queue_size: http-log: deprecated alias"},
		{"http_endpoint: http://x/\nqueue: {max_size: 2}", `config.queue.max_size: unknown field`},
		{"http_endpoint: http://x/\ncustom_fields_by_lua: {user_id: \"return kong.request.get_header('X-User-ID')\"}",
			"config.custom_fields_by_lua: http-log: edgeguard runs no Lua; use custom_fields"},
		{"http_endpoint: http://x/\ncustom_fields: {a: \"$(jwt)\"}", `config.custom_fields.a: http-log: template "$(jwt)"`},
		{"http_endpoint: http://x/\ncustom_fields: {tok: \"$(header.Authorization)\"}", "reads header authorization, which is redacted"},
		{"http_endpoint: http://x/\ncustom_fields: {tok: \"$(cookie.sid)\"}", "reads a cookie"},
		{"http_endpoint: http://x/\nredact_headers: [X-Key]\ncustom_fields: {k: \"$(headers.x_key)\"}", "reads header x-key"},
		{"http_endpoint: http://x/\ncustom_fields: {request.user: \"x\"}", `would replace the built-in field "request"`},
		{"http_endpoint: http://x/\ncustom_fields: {a: \"x\", a.b: \"y\"}", "conflicts with another custom field"},
		{"http_endpoint: http://x/\nredact_headers: [\"bad name\"]", "config.redact_headers[0]: http-log: invalid header name"},
		{"http_endpoint: http://x/\ncustom_fields: {t: \"$(query.JWT)\"}", "reads query parameter JWT, which is redacted"},
		{"http_endpoint: http://x/\nredact_query: [sig]\ncustom_fields: {t: \"$(query_params.sig)\"}", "reads query parameter sig"},
		{"http_endpoint: http://x/\nredact_query: [\"\"]", "config.redact_query[0]: http-log: query parameter name must have 1 to 63 bytes"},
	} {
		_, err := filtertest.Build(env, Name, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
	// Kong's deprecated fields are accepted
	f, err := filtertest.Build(env, Name, "http_endpoint: https://logs.example.com\nqueue_size: 10\nflush_timeout: 2\nretry_count: 3\nkeepalive: 1000\ncontent_type: application/json; charset=utf-8\nmethod: PUT")
	if err != nil {
		t.Fatal(err)
	}
	defer f.(*Filter).Close()
	s := f.(*Filter).w.s
	if s.batch != 10 || s.delay != 2*time.Second || s.endpoint != "https://logs.example.com/" || s.addr != "logs.example.com:443" || !s.tls || s.method != "PUT" {
		t.Errorf("settings %+v", s)
	}
}

// TestCloseBoundedWithBlackHole: a collector that accepts connections and
// never answers cannot hold Close past its flush budget.
func TestCloseBoundedWithBlackHole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	env := filtertest.Env(t)
	f := filtertest.MustBuild(t, env, Name, "http_endpoint: http://"+ln.Addr().String()+"/\ntimeout: 1500\nqueue: {max_entries: 1000}").(*Filter)
	f.w.budget = 300 * time.Millisecond
	r := request(0)
	for i := 0; i < 500; i++ {
		f.Log(&r.Ctx)
	}
	t0 := time.Now()
	f.Close()
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Close took %v with a 300ms flush budget", d)
	}
	// the send in flight returns after its own timeout; then the rest is
	// dropped without further sends
	for deadline := time.Now().Add(15 * time.Second); f.Stats().Dropped != 500 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if s := f.Stats(); s.Sent != 0 || s.Dropped != 500 {
		t.Errorf("stats %+v: every entry must be dropped and counted", s)
	}
}

// TestMaxBytesCountsHeldMemory: entries of requests with large header
// blocks are accounted for the memory they hold (their buffers' capacity),
// so max_bytes bounds the queue's memory; and max_bytes has a default.
func TestMaxBytesCountsHeldMemory(t *testing.T) {
	f := build(t, "http_endpoint: http://"+deadAddr(t)+"/\nqueue: {max_entries: 1000}")
	if f.w.s.maxBytes != defaultMaxBytes {
		t.Fatalf("default max_bytes = %d, want %d", f.w.s.maxBytes, defaultMaxBytes)
	}
	f.Close() // stop the sender so the queue only fills
	const n = 200
	for i := 0; i < n; i++ {
		r := request(i)
		for h := 0; h < 15; h++ { // ~15 KB of headers, as in the red-team run
			r.RC.Request.Header.Set(fmt.Sprintf("X-H%d", h), strings.Repeat("v", 1000))
		}
		f.Log(&r.Ctx)
	}
	accounted := f.w.bytes.Load()
	var held int64
	for len(f.w.queue) > 0 {
		e := <-f.w.queue
		if c := cap(e.reqHdr); c > 2*maxHeaderBytes {
			t.Errorf("an entry keeps a %d-byte request header buffer (cap %d)", c, maxHeaderBytes)
		}
		if len(e.reqHdr) > maxHeaderBytes {
			t.Errorf("request header block of %d bytes, cap %d", len(e.reqHdr), maxHeaderBytes)
		}
		held += int64(cap(e.buf)+cap(e.reqHdr)+cap(e.respHdr)) + int64(unsafe.Sizeof(*e))
		f.w.dequeued(e)
	}
	if held == 0 || held > accounted {
		t.Errorf("queued entries hold %d bytes, accounted %d", held, accounted)
	}
}

// TestRedactQuery: a token in the query string (the jwt plugin's ?jwt=, an
// API key) is REDACTED in request.uri, request.url, request.querystring and
// upstream_uri; redact_query replaces the default list.
func TestRedactQuery(t *testing.T) {
	const tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	for _, tc := range []struct {
		conf, query, wantQ string
		secrets            []string
	}{
		{"", "page=1&jwt=" + tok + "&%6Awt=" + tok + "&Access_Token=at1&apikey=k1&token",
			"page=1&jwt=REDACTED&%6Awt=REDACTED&Access_Token=REDACTED&apikey=REDACTED&token", []string{tok, "at1", "k1"}},
		{"redact_query: [sig]", "jwt=j1&sig=s1", "jwt=j1&sig=REDACTED", []string{"s1"}},
		{"redact_query: []", "jwt=j1", "jwt=j1", nil},
	} {
		col := newCollector(t)
		f := build(t, "http_endpoint: http://"+col.addr+"/\n"+tc.conf)
		r := request(1)
		r.RC.Request.SetRequestURI("/v1/items?" + tc.query)
		f.Log(&r.Ctx)
		col.wait(t, 1)
		e := col.entries(t)[0]
		req := e["request"].(map[string]any)
		if req["uri"] != "/v1/items?"+tc.wantQ || req["url"] != "http://api.example.com/v1/items?"+tc.wantQ ||
			e["upstream_uri"] != "/v1/items?"+tc.wantQ {
			t.Errorf("%q: uri %v, url %v, upstream_uri %v, want query %s", tc.conf, req["uri"], req["url"], e["upstream_uri"], tc.wantQ)
		}
		raw := string(col.bodies[0])
		for _, s := range tc.secrets {
			if strings.Contains(raw, s) {
				t.Errorf("%q: entry leaks %q: %s", tc.conf, s, raw)
			}
		}
		if tc.conf == "" {
			if qs := req["querystring"].(map[string]any); qs["jwt"] != "REDACTED" && fmt.Sprint(qs["jwt"]) != "[REDACTED REDACTED]" {
				t.Errorf("querystring.jwt = %v", qs["jwt"])
			}
		}
	}
}

// syncBuf is a log destination safe for concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuf) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(string(s.b)), "\n")
}

// TestShutdownFlushLogged: with a slow collector, the entries the shutdown
// flush could not send are reported in one line with the numbers sent and
// dropped; and log lines carry the gateway's plugin key once (item: the
// worker added it a second time).
func TestShutdownFlushLogged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
		time.Sleep(20 * time.Millisecond)
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	var out syncBuf
	env := filtertest.Env(t)
	env.InstanceName = "hl"
	// as proxy/runtime.go builds it
	env.Logger = slog.New(slog.NewJSONHandler(&out, nil)).With("plugin", env.InstanceName)
	f := filtertest.MustBuild(t, env, Name, "http_endpoint: http://"+ln.Addr().String()+"/\nqueue: {max_entries: 1000}").(*Filter)
	f.w.budget = 300 * time.Millisecond
	const n = 200
	for i := 0; i < n; i++ {
		r := request(i)
		f.Log(&r.Ctx)
	}
	f.Close()
	for deadline := time.Now().Add(5 * time.Second); f.Stats().Sent+f.Stats().Dropped < n && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	st := f.Stats()
	var final map[string]any
	for _, l := range out.lines() {
		if strings.Count(l, `"plugin":`) != 1 {
			t.Errorf("log line without exactly one plugin key: %s", l)
		}
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && strings.Contains(fmt.Sprint(m["msg"]), "shutdown flush") {
			if final != nil {
				t.Errorf("two shutdown lines: %v and %v", final, m)
			}
			final = m
		}
	}
	if final == nil {
		t.Fatalf("no shutdown flush line in %q (stats %+v)", out.lines(), st)
	}
	sent, dropped := final["sent"].(float64), final["dropped"].(float64)
	if sent == 0 || dropped == 0 || sent+dropped < float64(n)-2 || sent > float64(st.Sent) || final["level"] != "WARN" {
		t.Errorf("shutdown line %v; stats %+v", final, st)
	}
}

// TestWarnPluginKeyOnce: a failed send is logged with the plugin key of the
// gateway's logger, not a second one.
func TestWarnPluginKeyOnce(t *testing.T) {
	var out syncBuf
	env := filtertest.Env(t)
	env.InstanceName = "hl"
	env.Logger = slog.New(slog.NewJSONHandler(&out, nil)).With("plugin", env.InstanceName)
	f := filtertest.MustBuild(t, env, Name, "http_endpoint: http://"+deadAddr(t)+"/\nqueue: {max_retry_time: 0}").(*Filter)
	r := request(0)
	f.Log(&r.Ctx)
	for deadline := time.Now().Add(5 * time.Second); f.Stats().SendErrors == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	f.Close()
	lines := out.lines()
	if len(lines) < 1 || !strings.Contains(lines[0], "cannot deliver") {
		t.Fatalf("log: %q", lines)
	}
	for _, l := range lines {
		if strings.Count(l, `"plugin":`) != 1 {
			t.Errorf("log line without exactly one plugin key: %s", l)
		}
	}
}
