package bench

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cristalhq/jwt/v4"
	"github.com/valyala/fasthttp"

	_ "github.com/edgeguard/edgeguard/filters/all"
	"github.com/edgeguard/edgeguard/proxy"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

var body103 = []byte(`{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}],"total":2,"page":1,"next":null,"ok":true}`)

const secret = "bench-secret-0123456789abcdef-0123456789"

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

const head = `
listen: {http: "127.0.0.1:0"}
admin: {listen: "off"}
access_log: {path: "off"}
consumers: [{username: bench, jwt_secrets: [{key: bench-issuer, secret: "` + secret + `"}]}]
services: [{name: b, targets: ["@B@"]}]
plugins:
  - {name: size, plugin: request-size-limiting, config: {allowed_payload_size: 10}}
  - {name: auth, plugin: jwt, config: {claims_to_verify: [exp]}}
  - {name: ident, plugin: request-transformer, config: {add: {headers: ["X-User-ID:$(jwt.sub)", "X-User-Roles:$(jwt.roles)"]}}}
  - {name: rate, plugin: rate-limiting, config: {second: 10000000, limit_by: ip}}
  - {name: ip, plugin: ip-restriction, config: {deny: ["10.0.0.0/8", "192.0.2.0/24"], allow: ["127.0.0.0/8"]}}
  - {name: bots, plugin: bot-detection, config: {deny: [curl, python-requests]}}
  - name: schema
    plugin: request-validator
    config:
      allowed_content_types: [application/json]
      body_schema: '{"type":"object","required":["name","email"],"properties":{"name":{"type":"string","minLength":1,"maxLength":100},"email":{"type":"string","format":"email"},"phone":{"type":"string","pattern":"^\\+?[0-9]{10,15}$"}},"additionalProperties":false}'
`

// Configs for the end-to-end benchmark, from bare routing to the whole chain.
var configs = []struct {
	name, routes string
	post         bool
}{
	{"core", `routes: [{name: items, paths: ["/v1"], service: b}]`, false},
	{"core+accesslog", `routes: [{name: items, paths: ["/v1"], service: b}]
access_log: {path: "@LOG@"}`, false},
	{"jwt+identity", `routes: [{name: items, paths: ["/v1"], service: b, plugins: [auth, ident]}]`, false},
	{"ratelimit", `routes: [{name: items, paths: ["/v1"], service: b, plugins: [rate]}]`, false},
	{"ip+bots", `routes: [{name: items, paths: ["/v1"], service: b, plugins: [ip, bots]}]`, false},
	{"core-post", `routes: [{name: items, paths: ["/v1"], service: b}]`, true},
	{"validator-post", `routes: [{name: items, paths: ["/v1"], service: b, plugins: [schema]}]`, true},
	{"full-chain", `routes: [{name: items, paths: ["/v1"], service: b, plugins: [ip, bots, size, auth, rate, ident]}]`, false},
}

func render(tb testing.TB, backend, routes string) string {
	y := strings.ReplaceAll(head, "@B@", backend) + routes + "\n"
	if strings.Contains(routes, "access_log:") {
		y = strings.Replace(y, `access_log: {path: "off"}`, "", 1)
	}
	return strings.ReplaceAll(y, "@LOG@", tb.TempDir()+"/access.log")
}

func token(tb testing.TB) string {
	s, _ := jwt.NewSignerHS(jwt.HS256, []byte(secret))
	t, err := jwt.NewBuilder(s).Build(map[string]any{"iss": "bench-issuer", "sub": "user-42", "roles": []string{"a", "b"},
		"exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		tb.Fatal(err)
	}
	return t.String()
}

var userBody = []byte(`{"name":"Ada Lovelace","email":"ada@example.com","phone":"+441234567890"}`)

func prepare(req *fasthttp.Request, addr, tok string, post bool) {
	req.SetRequestURI("http://" + addr + "/v1/items")
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120 bench")
	req.Header.Set("Authorization", "Bearer "+tok)
	if post {
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.SetBody(userBody)
	}
}

func run(b *testing.B, addr, tok string, post bool) {
	c := &fasthttp.HostClient{Addr: addr, MaxConns: 256}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		prepare(req, addr, tok, post)
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("%v %d %s", err, resp.StatusCode(), resp.Body())
				return
			}
		}
	})
}

// BenchmarkEndToEnd: client → edgeguard → backend over loopback, all in one
// process; "direct" is the same client against the backend. Allocations
// counted include the client's and the backend's; compare sub-benchmarks
// with benchstat to get each plugin's cost through the whole gateway.
func BenchmarkEndToEnd(b *testing.B) {
	backend := startBackend(b)
	tok := token(b)
	b.Run("direct", func(b *testing.B) { run(b, backend, tok, false) })
	for _, c := range configs {
		addr := startGateway(b, render(b, backend, c.routes))
		b.Run(c.name, func(b *testing.B) { run(b, addr, tok, c.post) })
	}
}

func TestEndToEndConfigsServe(t *testing.T) {
	backend := startBackend(t)
	tok := token(t)
	for _, c := range configs {
		addr := startGateway(t, render(t, backend, c.routes))
		var req fasthttp.Request
		var resp fasthttp.Response
		prepare(&req, addr, tok, c.post)
		if err := fasthttp.Do(&req, &resp); err != nil || resp.StatusCode() != 200 || string(resp.Body()) != string(body103) {
			t.Fatalf("%s: %v %d %s", c.name, err, resp.StatusCode(), resp.Body())
		}
	}
}
