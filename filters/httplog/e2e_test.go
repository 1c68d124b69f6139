package httplog_test

import (
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	_ "github.com/edgeguard/edgeguard/filters/all"
	_ "github.com/edgeguard/edgeguard/filters/httplog"
	"github.com/edgeguard/edgeguard/proxy"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

func serve(t testing.TB, h fasthttp.RequestHandler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown() })
	return ln.Addr().String()
}

func gateway(t testing.TB, yaml string) *proxy.Gateway {
	g, err := proxy.New(proxy.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loader: func() (*config.Config, *confnode.Errors) {
		return config.Parse("e2e.yaml", []byte(yaml))
	}})
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve()
	<-g.Ready()
	t.Cleanup(func() { g.Shutdown() })
	return g
}

// medianLatency sends n sequential requests and returns the median latency.
func medianLatency(t *testing.T, addr string, n int) time.Duration {
	c := &fasthttp.HostClient{Addr: addr}
	var req fasthttp.Request
	var resp fasthttp.Response
	req.SetRequestURI("http://" + addr + "/v1/items")
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if err := c.Do(&req, &resp); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("%v %d", err, resp.StatusCode())
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat[n/2]
}

// TestCollectorDownThroughGateway: with the collector down, requests are
// as fast as with http-log off, and the overflow is counted in /metrics.
func TestCollectorDownThroughGateway(t *testing.T) {
	backend := serve(t, func(rc *fasthttp.RequestCtx) { rc.SetBodyString(`{"ok":true}`) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	base := `
listen: {http: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0", audit_log: "` + t.TempDir() + `/audit.log"}
access_log: {path: "off"}
services: [{name: b, targets: ["` + backend + `"]}]
`
	off := gateway(t, base+`routes: [{name: items, paths: ["/v1"], service: b}]`)
	down := gateway(t, base+`routes: [{name: items, paths: ["/v1"], service: b, plugins: [audit]}]
plugins: [{name: audit, plugin: http-log, config: {http_endpoint: "http://`+dead+`/", timeout: 500, queue: {max_entries: 100, max_retry_time: 60}}}]`)

	const n = 600
	medianLatency(t, off.Addr().String(), 50) // warm up
	medianLatency(t, down.Addr().String(), 50)
	mOff := medianLatency(t, off.Addr().String(), n)
	mDown := medianLatency(t, down.Addr().String(), n)
	t.Logf("median request latency: http-log off %v, http-log with collector down %v", mOff, mDown)
	if mDown > 3*mOff+time.Millisecond {
		t.Errorf("collector down slows requests: median %v vs %v without http-log", mDown, mOff)
	}

	var req fasthttp.Request
	var resp fasthttp.Response
	req.SetRequestURI("http://" + down.AdminAddr().String() + "/metrics")
	if err := fasthttp.Do(&req, &resp); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`edgeguard_http_log_dropped_total\{plugin="audit"\} (\d+)`).FindStringSubmatch(string(resp.Body()))
	if m == nil {
		t.Fatalf("no drop counter in /metrics:\n%s", resp.Body())
	}
	dropped, _ := strconv.Atoi(m[1])
	// 650 entries, a queue of 100 and one batch in flight
	if dropped < 650-101-1 || !strings.Contains(string(resp.Body()), `edgeguard_http_log_queue_entries{plugin="audit"} 100`) {
		t.Errorf("dropped %d, want >= %d; queue gauge:\n%s", dropped, 650-102, regexp.MustCompile(`edgeguard_http_log_queue_entries.*`).FindString(string(resp.Body())))
	}
}

// TestRequestHeadersThroughGateway: request.headers are the headers the
// client sent, whether the request was proxied or rejected by a filter:
// Host, Cookie and Proxy-Authorization (which forwarding rewrites, moves
// or removes) are there, redacted values once per line.
func TestRequestHeadersThroughGateway(t *testing.T) {
	backend := serve(t, func(rc *fasthttp.RequestCtx) { rc.SetBodyString(`{"ok":true}`) })
	var mu sync.Mutex
	var bodies []string
	col := serve(t, func(rc *fasthttp.RequestCtx) {
		mu.Lock()
		bodies = append(bodies, string(rc.PostBody()))
		mu.Unlock()
	})
	g := gateway(t, `
listen: {http: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0", audit_log: "`+t.TempDir()+`/audit.log"}
access_log: {path: "off"}
services: [{name: b, targets: ["`+backend+`"]}]
routes:
  - {name: ok, paths: ["/v1"], service: b, plugins: [audit]}
  - {name: deny, paths: ["/deny"], service: b, plugins: [audit, deny]}
plugins:
  - {name: audit, plugin: http-log, config: {http_endpoint: "http://`+col+`/", queue: {max_coalescing_delay: 0}}}
  - {name: deny, plugin: ip-restriction, config: {deny: ["127.0.0.0/8"]}}
`)
	for _, path := range []string{"/v1/x?jwt=SECRETJWT", "/deny/x"} {
		conn, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer SECRET1\r\n"+
			"Authorization: Bearer SECRET2\r\nProxy-Authorization: Basic SECRET3\r\nCookie: sid=SECRET4\r\nX-Tenant: acme\r\nConnection: close\r\n\r\n")
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(conn)
		conn.Close()
	}
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		got = slices.Clone(bodies)
		mu.Unlock()
		if len(got) == 2 {
			break
		}
	}
	if len(got) != 2 {
		t.Fatalf("collector got %d entries, want 2", len(got))
	}
	want := `"headers":{"host":"api.example.com","authorization":["REDACTED","REDACTED"],"proxy-authorization":"REDACTED","cookie":"REDACTED","x-tenant":"acme","connection":"close"}`
	for _, b := range got {
		if !strings.Contains(b, want) {
			t.Errorf("entry request headers differ; want %s in\n%s", want, b)
		}
		if strings.Contains(b, "SECRET") {
			t.Errorf("entry leaks a secret: %s", b)
		}
	}
}
