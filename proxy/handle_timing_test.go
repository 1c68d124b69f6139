package proxy

import (
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// BenchmarkHandle runs the whole handler (checks, routing, chain, upstream
// exchange, response, log phase) against an in-memory upstream, so the
// figure is the gateway's CPU per request without network noise. The
// response body is read and released as the server would.
func BenchmarkHandle(b *testing.B) {
	b.Run("streamed", func(b *testing.B) { benchHandle(b, benchConfig) })
	b.Run("buffered", func(b *testing.B) {
		benchHandle(b, strings.Replace(benchConfig, `targets: ["127.0.0.1:9"]`, `targets: ["127.0.0.1:9"], response_buffering: true`, 1))
	})
}

func benchHandle(b *testing.B, cfg string) {
	g := benchGateway(b, cfg)
	ln := fasthttputil.NewInmemoryListener()
	defer ln.Close()
	body := []byte(`{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}],"total":2,"page":1,"next":null,"ok":true}`)
	go (&fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) { rc.SetBody(body) }}).Serve(ln)
	for _, svc := range g.rt.Load().services {
		for _, t := range svc.Targets {
			t.Client.Dial = func(string) (net.Conn, error) { return ln.Dial() }
		}
	}
	rc, tmpl := newBenchCtx(b)
	b.ReportAllocs()
	for b.Loop() {
		tmpl.CopyTo(&rc.Request)
		g.handle(rc)
		if rc.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", rc.Response.StatusCode(), rc.Response.Body())
		}
		rc.Response.Body()
		rc.Response.Reset()
	}
}
