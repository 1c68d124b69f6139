package httplog_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkGatewayLogging: requests through the whole gateway (client →
// edgeguard → backend over loopback, one process) with logging off, with
// the access log to a file, and with the access log plus http-log batching
// to a loopback collector. Metrics are always on.
func BenchmarkGatewayLogging(b *testing.B) {
	backend := serve(b, func(rc *fasthttp.RequestCtx) {
		rc.SetContentType("application/json")
		rc.SetBodyString(`{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}],"total":2}`)
	})
	var received atomic.Int64
	collector := serve(b, func(rc *fasthttp.RequestCtx) { received.Add(1) })
	base := `
listen: {http: "127.0.0.1:0"}
admin: {listen: "off"}
services: [{name: b, targets: ["` + backend + `"]}]
`
	cases := []struct{ name, yaml string }{
		{"off", `access_log: {path: "off"}
routes: [{name: items, paths: ["/v1"], service: b}]`},
		{"accesslog", `access_log: {path: "@LOG@"}
routes: [{name: items, paths: ["/v1"], service: b}]`},
		{"accesslog+httplog", `access_log: {path: "@LOG@"}
routes: [{name: items, paths: ["/v1"], service: b, plugins: [audit]}]
plugins: [{name: audit, plugin: http-log, config: {http_endpoint: "http://` + collector + `/", queue: {max_batch_size: 200, max_coalescing_delay: 0.2, max_entries: 100000}}}]`},
	}
	for _, tc := range cases {
		yaml := base + strings.ReplaceAll(tc.yaml, "@LOG@", b.TempDir()+"/access.log")
		addr := gateway(b, yaml).Addr().String()
		b.Run(tc.name, func(b *testing.B) {
			c := &fasthttp.HostClient{Addr: addr, MaxConns: 64}
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				var req fasthttp.Request
				var resp fasthttp.Response
				req.SetRequestURI("http://" + addr + "/v1/items?page=1")
				req.Header.Set("User-Agent", "bench")
				for pb.Next() {
					if err := c.Do(&req, &resp); err != nil || resp.StatusCode() != 200 {
						b.Errorf("%v %d", err, resp.StatusCode())
						return
					}
				}
			})
		})
	}
}
