package bench

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	_ "github.com/edgeguard/edgeguard/filters/all"
	"github.com/edgeguard/edgeguard/proxy"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

var body103 = []byte(`{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}],"total":2,"page":1,"next":null,"ok":true}`)

func startBackend(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
		rc.SetContentType("application/json")
		rc.SetBody(body103)
	}}
	go s.Serve(ln)
	tb.Cleanup(func() { s.Shutdown() })
	return ln.Addr().String()
}

func startGateway(tb testing.TB, yaml string) string {
	yaml += "\ndata_dir: " + tb.TempDir() + "\n"
	g, err := proxy.New(proxy.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loader: func() (*config.Config, *confnode.Errors) {
		return config.Parse("bench.yaml", []byte(yaml))
	}})
	if err != nil {
		tb.Fatal(err)
	}
	go g.Serve()
	<-g.Ready()
	tb.Cleanup(func() { g.Shutdown() })
	return g.Addr().String()
}

// Configs for the end-to-end benchmark, from bare routing to the full chain
// (sub-benchmarks appear as the filters land).
var configs = map[string]string{
	"core": `
listen: {http: "127.0.0.1:0"}
admin: {listen: "off"}
access_log: {path: "off"}
services: [{name: b, targets: ["@B@"]}]
routes: [{name: items, paths: ["/v1"], service: b}]
`,
	"core+sizelimit+accesslog": `
listen: {http: "127.0.0.1:0"}
admin: {listen: "off"}
access_log: {path: "@LOG@"}
services: [{name: b, targets: ["@B@"]}]
routes: [{name: items, paths: ["/v1"], service: b, plugins: [size]}]
plugins: [{name: size, plugin: request-size-limiting, config: {allowed_payload_size: 10}}]
`,
}

func run(b *testing.B, addr string) {
	c := &fasthttp.HostClient{Addr: addr, MaxConns: 256}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + addr + "/v1/items")
		req.Header.Set("User-Agent", "Mozilla/5.0 bench")
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("%v %d", err, resp.StatusCode())
				return
			}
		}
	})
}

// BenchmarkEndToEnd: client → edgeguard → backend over loopback, all in one
// process; "direct" is the same client against the backend. Allocations
// counted include the client's and the backend's.
func BenchmarkEndToEnd(b *testing.B) {
	backend := startBackend(b)
	b.Run("direct", func(b *testing.B) { run(b, backend) })
	for _, name := range []string{"core", "core+sizelimit+accesslog"} {
		yaml := strings.ReplaceAll(configs[name], "@B@", backend)
		yaml = strings.ReplaceAll(yaml, "@LOG@", b.TempDir()+"/access.log")
		addr := startGateway(b, yaml)
		b.Run(name, func(b *testing.B) { run(b, addr) })
	}
}

func TestEndToEndConfigsServe(t *testing.T) {
	backend := startBackend(t)
	for name, yaml := range configs {
		yaml = strings.ReplaceAll(yaml, "@B@", backend)
		yaml = strings.ReplaceAll(yaml, "@LOG@", t.TempDir()+"/access.log")
		addr := startGateway(t, yaml)
		var req fasthttp.Request
		var resp fasthttp.Response
		req.SetRequestURI("http://" + addr + "/v1/items")
		if err := fasthttp.Do(&req, &resp); err != nil || resp.StatusCode() != 200 || string(resp.Body()) != string(body103) {
			t.Fatalf("%s: %v %d %s", name, err, resp.StatusCode(), resp.Body())
		}
	}
}
