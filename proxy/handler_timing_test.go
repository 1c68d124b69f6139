package proxy

import (
	"bufio"
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// benchGateway compiles cfg without listening.
func benchGateway(tb testing.TB, yaml string) *Gateway {
	tb.Helper()
	yaml += "\ndata_dir: " + tb.TempDir() + "\n"
	g, err := New(Options{Logger: slog.New(slog.NewTextHandler(discard{}, nil)), Loader: func() (*config.Config, *confnode.Errors) {
		return config.Parse("bench.yaml", []byte(yaml))
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

const benchConfig = `
access_log: {path: "off"}
trusted_proxies: ["10.0.0.0/8"]
services: [{name: api, targets: ["127.0.0.1:9"]}]
routes:
  - {name: other, hosts: ["other.example.com"], paths: ["/"], service: api}
  - {name: api, hosts: ["api.example.com"], paths: ["/v1"], service: api, plugins: [size]}
  - {name: premium, hosts: ["api.example.com"], paths: ["/v1/premium"], service: api}
plugins:
  - {name: size, plugin: request-size-limiting, config: {allowed_payload_size: 10}}
`

const benchRequest = "GET //v1/./items/42?x=1 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120\r\nAccept: application/json\r\nAuthorization: Bearer abc.def.ghi\r\nX-Forwarded-For: 198.51.100.7\r\n\r\n"

// gatewayPath runs everything the gateway does for a request except the
// network exchange: framing and request-line checks, client IP, request ID,
// normalisation, routing, the filter chain, the upstream request rewrite and
// the log phase (metrics; access log off).
func gatewayPath(g *Gateway, st *reqState, rc *fasthttp.RequestCtx) {
	rt := g.rt.Load()
	c := &st.Ctx
	c.RC = rc
	req := &rc.Request
	peer := peerAddr(rc)
	st.peer, st.trustedPeer = peer, rt.resolver.Trusted(peer)
	if st.trustedPeer {
		st.xff = append(st.xff[:0], req.Header.PeekAll(rt.resolver.Header())...)
		c.ClientIP = rt.resolver.Resolve(peer, st.xff)
	} else {
		c.ClientIP = peer
	}
	c.RequestID = appendRequestID(c.RequestID[:0])
	req.Header.SetBytesKV(hdrRequestID, c.RequestID)
	if s, _ := checkRequestLine(&req.Header); s != 0 {
		panic("request line")
	}
	reason, mask := scanHeaders(&req.Header)
	if reason != "" {
		panic("framing")
	}
	st.hdrMask = mask
	path, query := splitQuery(req.Header.RequestURI())
	st.path, _ = normalizeInto(st.path[:0], path)
	r, name, ok := rt.router.Match(req.Header.Host(), st.path, req.Header.Method())
	if !ok {
		panic("no route")
	}
	c.Route, c.Service = name, r.service.Name
	c.BodyLimit = int64(rt.cfg.Server.MaxBodySize)
	c.Path = st.path
	rewriteRequest(st, r, query)
	for i := range r.chain {
		c.CurFilter, c.CurName = i, r.chain[i].name
		if r.chain[i].f.Access(c) != 0 {
			panic("rejected")
		}
	}
	st.host = append(st.host[:0], req.Header.Host()...)
	st.Host = st.host
	prepareUpstreamRequest(st, len(r.chain) > 0)
	rc.Response.SetStatusCode(200)
	g.logPhase(rt, st, r)
}

func newBenchCtx(tb testing.TB) (*fasthttp.RequestCtx, *fasthttp.Request) {
	var tmpl fasthttp.Request
	if err := tmpl.Read(bufio.NewReader(strings.NewReader(benchRequest))); err != nil {
		tb.Fatal(err)
	}
	rc := &fasthttp.RequestCtx{}
	rc.SetRemoteAddr(&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 5555})
	return rc, &tmpl
}

func BenchmarkGatewayPath(b *testing.B) {
	g := benchGateway(b, benchConfig)
	rc, tmpl := newBenchCtx(b)
	st := statePool.Get().(*reqState)
	b.Run("baseline-copy-request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tmpl.CopyTo(&rc.Request)
			rc.Response.Reset()
		}
	})
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tmpl.CopyTo(&rc.Request)
			rc.Response.Reset()
			gatewayPath(g, st, rc)
			st.reset()
		}
	})
}

func TestGatewayPathAllocs(t *testing.T) {
	g := benchGateway(t, benchConfig)
	rc, tmpl := newBenchCtx(t)
	st := statePool.Get().(*reqState)
	run := func() {
		tmpl.CopyTo(&rc.Request)
		rc.Response.Reset()
		gatewayPath(g, st, rc)
		st.reset()
	}
	run()
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("gateway path allocates %v times per request, want 0", n)
	}
	tmpl.CopyTo(&rc.Request)
	gatewayPath(g, st, rc)
	if !strings.Contains(string(st.fwd), "\r\nX-Real-Ip: 198.51.100.7\r\n") {
		t.Fatalf("forwarded headers %q", st.fwd)
	}
	st.reset()
}

// TestRequestID: the request ID's second part is the %016x of the
// scrambled counter, unique, and consecutive IDs share no visible order.
func TestRequestID(t *testing.T) {
	ridCounter.Store(0x0123456789abcdee)
	id := string(appendRequestID(nil))
	if want := fmt.Sprintf("%s-%016x", ridPrefix[:], ridMix(0x0123456789abcdef)); id != want {
		t.Fatalf("request id %q, want %q", id, want)
	}
	seen := map[uint64]bool{}
	var prev uint64
	flips := 0
	for c := uint64(1); c <= 100000; c++ {
		m := ridMix(c)
		if seen[m] {
			t.Fatalf("ridMix(%d) repeats", c)
		}
		seen[m] = true
		flips += bits.OnesCount64(m ^ prev)
		prev = m
	}
	// Consecutive counters differ in one or two bits; their IDs in about
	// half of the 64.
	if avg := float64(flips) / 100000; avg < 30 || avg > 34 {
		t.Errorf("consecutive IDs differ in %.1f bits on average, want ~32", avg)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		n := rng.Uint64()
		switch i {
		case 0:
			n = 0
		case 1:
			n = math.MaxUint64
		case 2:
			n = 0xa9a9a9a99a9a9a9a
		}
		ridCounter.Store(n - 1)
		id := string(appendRequestID(nil))
		if want := fmt.Sprintf("%s-%016x", ridPrefix[:], ridMix(n)); id != want {
			t.Fatalf("request id %q, want %q", id, want)
		}
	}
}

func BenchmarkRequestID(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendRequestID(buf[:0])
	}
}

// TestSplitQuery: path and query of a request target; a fragment is
// dropped from either, an absolute-form target is reduced to its path.
func TestSplitQuery(t *testing.T) {
	for _, tc := range []struct{ uri, path, query string }{
		{"/a", "/a", ""},
		{"/a?b=1&c", "/a", "b=1&c"},
		{"/a?", "/a", ""},
		{"/a?b?c", "/a", "b?c"},
		{"/a?b#c?d", "/a", "b"},
		{"/a#b?c", "/a", ""},
		{"/a#", "/a", ""},
		{"http://h.example/x/y?q#f", "/x/y", "q"},
		{"http://h.example", "/", ""},
		{"http://a.b?/x/y", "/", "/x/y"},
		{"http://a.b?/x#/y", "/", "/x"},
		{"http://a.b#/admin", "/", ""},
		{"http://a.b:80?q=/../admin", "/", "q=/../admin"},
		{"*", "*", ""},
	} {
		p, q := splitQuery([]byte(tc.uri))
		if string(p) != tc.path || string(q) != tc.query {
			t.Errorf("splitQuery(%q) = %q, %q; want %q, %q", tc.uri, p, q, tc.path, tc.query)
		}
	}
}

// FuzzSplitQuery compares splitQuery with the plain reading of RFC 9112's
// request target it implements: the absolute form reduced to its path, then
// everything from the first '#' dropped and the rest split at the first '?'.
func FuzzSplitQuery(f *testing.F) {
	for _, s := range []string{"/a?b#c", "/a#b?c", "http://h/x?y", "http://h", "/", "?", "#", "a://b/c?d#e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		p, q := splitQuery([]byte(uri))
		u := uri
		if len(u) > 0 && u[0] != '/' {
			if i := strings.Index(u, "://"); i > 0 {
				if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
					u = u[i+3+j:]
				} else {
					u = "/"
				}
			}
		}
		u, _, _ = strings.Cut(u, "#")
		wantP, wantQ, _ := strings.Cut(u, "?")
		if string(p) != wantP || string(q) != wantQ {
			t.Fatalf("splitQuery(%q) = %q, %q; want %q, %q", uri, p, q, wantP, wantQ)
		}
	})
}
