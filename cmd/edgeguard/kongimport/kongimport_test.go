package kongimport

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	_ "github.com/edgeguard/edgeguard/filters/all"
	// http-log is not in filters/all yet; this package links it anyway
	// (plugins.go reads its Config), the import only says so explicitly.
	_ "github.com/edgeguard/edgeguard/filters/httplog"
	"github.com/edgeguard/edgeguard/proxy"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func readSources(t testing.TB, patterns ...string) []Source {
	t.Helper()
	var srcs []Source
	for _, p := range patterns {
		files, err := filepath.Glob(p)
		if err != nil || len(files) == 0 {
			t.Fatalf("no files for %s", p)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			srcs = append(srcs, Source{Name: filepath.ToSlash(f), Data: data})
		}
	}
	return srcs
}

func mustImport(t *testing.T, srcs []Source, opts Options) *Result {
	t.Helper()
	res, err := Import(srcs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// check runs the output through config.Parse and proxy.Check (what
// `edgeguard validate` does) and returns the parsed config.
func check(t *testing.T, out []byte) *config.Config {
	t.Helper()
	cfg, errs := config.Parse("out.yaml", out)
	if errs != nil && len(errs.List) > 0 {
		t.Fatalf("config.Parse: %v\n%s", errs.Err(), out)
	}
	if err := proxy.Check(func() (*config.Config, *confnode.Errors) { return config.Parse("out.yaml", out) }); err != nil {
		t.Fatalf("proxy.Check: %v\n%s", err, out)
	}
	return cfg
}

// The article's manifests import into a config edgeguard accepts, and only
// the Kubernetes-only parts (Secret names, the cert-manager issuer) are
// reported.
func TestArticle(t *testing.T) {
	res := mustImport(t, readSources(t, "testdata/article/*.yaml"), Options{})
	cfg := check(t, res.Config)

	var fields []string
	for _, p := range res.Untranslated {
		fields = append(fields, p.Object+" "+p.Field)
		if p.File == "" || p.Line == 0 {
			t.Errorf("problem without a place: %s", p)
		}
	}
	want := []string{
		"Certificate api-tls spec.secretName",
		"Certificate api-tls spec.issuerRef",
		"Ingress api spec.tls[0].secretName",
	}
	if !slices.Equal(fields, want) {
		t.Errorf("untranslated:\n  %s\nwant only the Kubernetes-only parts:\n  %s", strings.Join(fields, "\n  "), strings.Join(want, "\n  "))
	}

	// The policies arrived.
	routes := map[string]config.Route{}
	for _, r := range cfg.Routes {
		routes[r.Name] = r
	}
	for name, want := range map[string][]string{
		"api-ingress":  {"jwt-auth"},
		"api-standard": {"jwt-auth", "rate-limit-standard"},
		"api-premium":  {"jwt-auth", "rate-limit-premium"},
		"admin-api":    {"ip-restriction-admin", "jwt-auth"},
	} {
		r, ok := routes[name]
		if !ok {
			t.Errorf("no route %s", name)
			continue
		}
		if !slices.Equal(r.Plugins, want) {
			t.Errorf("route %s plugins %v, want %v", name, r.Plugins, want)
		}
	}
	if len(cfg.Routes) != 4 {
		t.Errorf("%d routes, want 4 (the TLS Ingress api merged into api-ingress)", len(cfg.Routes))
	}
	if r := routes["api-premium"]; r.Service != "api-premium" || !slices.Equal(r.Paths, []string{"/v1/premium"}) || !slices.Equal(r.Hosts, []string{"api.example.com"}) {
		t.Errorf("api-premium route: %+v", r)
	}
	kinds := map[string]string{}
	for _, p := range cfg.Plugins {
		kinds[p.Name] = p.Plugin
	}
	for name, kind := range map[string]string{
		"jwt-auth": "jwt", "request-transformer": "request-transformer", "rate-limit-standard": "rate-limiting",
		"rate-limit-premium": "rate-limiting", "request-validator": "request-validator",
		"request-size-limiting": "request-size-limiting", "ip-restriction-admin": "ip-restriction",
		"bot-detection": "bot-detection", "http-log": "http-log",
	} {
		if kinds[name] != kind {
			t.Errorf("plugin %s is %q, want %q", name, kinds[name], kind)
		}
	}
	// rate-limiting with redis stays as it is.
	for _, p := range cfg.Plugins {
		if p.Name == "rate-limit-standard" {
			var c struct {
				Policy    string `yaml:"policy"`
				RedisHost string `yaml:"redis_host"`
				Second    int    `yaml:"second"`
			}
			if err := p.Config.Decode(&c); err != nil || c.Policy != "redis" || c.RedisHost != "redis" || c.Second != 10 {
				t.Errorf("rate-limit-standard config: %+v %v", c, err)
			}
		}
		if p.Name == "http-log" {
			var c map[string]any
			p.Config.Decode(&c)
			if _, lua := c["custom_fields_by_lua"]; lua {
				t.Errorf("custom_fields_by_lua kept: %v", c)
			}
			if cf, _ := c["custom_fields"].(map[string]any); cf["user_id"] != "$(header.X-User-ID)" {
				t.Errorf("custom_fields: %v", c["custom_fields"])
			}
		}
	}
	// TLS from the ConfigMap, the Ingress annotations and the Certificate.
	tl := cfg.Listen.TLS
	if cfg.Listen.HTTPS == "" || tl.MinVersion != "1.2" || tl.Ciphers != "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256" ||
		!tl.RedirectHTTP || !tl.ForceSSLRedirect || !slices.Equal(tl.ACME.Hosts, []string{"api.example.com"}) ||
		*tl.HSTS.MaxAge != 31536000 || !*tl.HSTS.IncludeSubdomains || !*tl.HSTS.Enabled {
		t.Errorf("tls: https=%q %+v", cfg.Listen.HTTPS, tl)
	}
	for _, sv := range cfg.Services {
		if sv.Targets[0] != sv.Name+":80" {
			t.Errorf("service %s targets %v, want the placeholder %s:80", sv.Name, sv.Targets, sv.Name)
		}
	}
}

func TestArticleTargets(t *testing.T) {
	res := mustImport(t, readSources(t, "testdata/article/*.yaml"), Options{Targets: map[string]string{"api": "127.0.0.1:9000", "admin-api": "https://10.0.0.5:8443"}})
	cfg := check(t, res.Config)
	got := map[string]string{}
	for _, s := range cfg.Services {
		got[s.Name] = s.Targets[0]
	}
	if got["api"] != "127.0.0.1:9000" || got["admin-api"] != "https://10.0.0.5:8443" || got["api-premium"] != "api-premium:80" {
		t.Errorf("targets: %v", got)
	}
	if _, err := Import(readSources(t, "testdata/article/*.yaml"), Options{Targets: map[string]string{"nope": "1.2.3.4:5"}}); err == nil || !strings.Contains(err.Error(), `no service named "nope"`) {
		t.Errorf("unknown --target: %v", err)
	}
}

// The kong.yml example translates completely.
func TestKongYML(t *testing.T) {
	res := mustImport(t, readSources(t, "testdata/kongyml/kong.yml"), Options{})
	if res.Partial() {
		t.Fatalf("untranslated: %v", res.Untranslated)
	}
	cfg := check(t, res.Config)
	routes := map[string]config.Route{}
	for _, r := range cfg.Routes {
		routes[r.Name] = r
	}
	for name, want := range map[string][]string{
		// route plugins, then the service's (route wins per kind)
		"api-standard": {"rate-limit-standard", "jwt-auth", "identity"},
		"api-users":    {"api-users-request-validator", "api-users-request-size-limiting", "jwt-auth", "identity"},
		"api-premium":  {"rate-limit-premium", "jwt-premium"},
		"admin":        {"admin-ip-restriction", "jwt-admin"},
	} {
		if !slices.Equal(routes[name].Plugins, want) {
			t.Errorf("route %s plugins %v, want %v", name, routes[name].Plugins, want)
		}
	}
	if !routes["admin"].StripPath || routes["api-standard"].StripPath {
		t.Errorf("strip_path: Kong's default is true, explicit false kept: %+v", routes)
	}
	if !slices.Equal(routes["api-users"].Methods, []string{"POST"}) {
		t.Errorf("methods: %v", routes["api-users"].Methods)
	}
	if !slices.Equal(cfg.GlobalPlugins, []string{"bot-detection", "http-log"}) {
		t.Errorf("global plugins %v", cfg.GlobalPlugins)
	}
	if !cfg.Metrics.KongCompat {
		t.Errorf("prometheus plugin did not set metrics.kong_compat")
	}
	if len(cfg.Consumers) != 1 || cfg.Consumers[0].Username != "alice" || cfg.Consumers[0].CustomID != "user-1001" ||
		len(cfg.Consumers[0].JWTSecrets) != 1 || cfg.Consumers[0].JWTSecrets[0].Key != "alice-issuer" {
		t.Errorf("consumers: %+v", cfg.Consumers)
	}
	svc := map[string]config.Service{}
	for _, s := range cfg.Services {
		svc[s.Name] = s
	}
	if s := svc["api"]; s.Targets[0] != "api.internal:8080" || s.ConnectTimeout.String() != "2s" || s.ReadTimeout.String() != "30s" || *s.Retries != 3 {
		t.Errorf("service api: %+v", s)
	}
	if s := svc["api-premium"]; s.Targets[0] != "api-premium.internal:8080" {
		t.Errorf("service api-premium: %+v", s)
	}
}

// Everything in untranslated.yaml is reported, each at its line; what is
// left is a valid config.
func TestUntranslated(t *testing.T) {
	res := mustImport(t, readSources(t, "testdata/cases/untranslated.yaml"), Options{})
	check(t, res.Config)
	var all []string
	for _, p := range res.Untranslated {
		all = append(all, p.String())
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{
		":2:1: KongPlugin cors-everything: plugin: plugin cors:",
		":19:3: KongPlugin limits: config.colour: edgeguard's rate-limiting plugin has no field",
		":18:3: KongPlugin limits: config.sync_rate: edgeguard's rate-limiting plugin refuses it",
		":29:5: KongPlugin logs: config.custom_fields_by_lua.tenant: edgeguard runs no Lua; rewrite it as a custom_fields template",
		":39:5: Ingress shop: metadata.annotations.nginx.ingress.kubernetes.io/rewrite-target:",
		":42:3: Ingress shop: spec.defaultBackend:",
		":48:13: Ingress shop: spec.rules[0].http.paths[0].pathType: edgeguard routes match prefixes: Exact",
		":52:13: Ingress shop: spec.rules[0].http.paths[1].path: regular-expression path",
		":56:13: Ingress shop: spec.rules[0].http.paths[2].backend.service.port: named port",
		`:37:5: Ingress shop: metadata.annotations.konghq.com/plugins: no KongPlugin named "missing-plugin"`,
		`:37:5: Ingress shop: metadata.annotations.konghq.com/plugins: no KongPlugin named "cors-everything"`,
		":70:13: Ingress shop-clash: route \"shop-clash\" has the same hosts and paths as route \"shop-1\"",
		":75:1: Secret shop-tls:",
		":88:3: ConfigMap ingress-nginx-controller: data.ssl-ciphers:",
		":89:3: ConfigMap ingress-nginx-controller: data.proxy-body-size:",
		":91:1: not a Kubernetes object",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if n := strings.Count(text, `no KongPlugin named "missing-plugin"`); n != 1 {
		t.Errorf("missing-plugin reported %d times", n)
	}
	if len(all) != 16 {
		t.Errorf("%d untranslated, want 16:\n%s", len(all), text)
	}
	var notes []string
	for _, p := range res.Notes {
		notes = append(notes, p.String())
	}
	nt := strings.Join(notes, "\n")
	for _, want := range []string{`translated to custom_fields template "$(client_ip)"`, "TLSv1.1 is insecure", "listen.https is not set"} {
		if !strings.Contains(nt, want) {
			t.Errorf("notes miss %q:\n%s", want, nt)
		}
	}
}

func TestInferKind(t *testing.T) {
	for _, c := range []struct{ name, config, want string }{
		{"jwt-auth", "{claims_to_verify: [exp]}", "jwt"},
		{"ip-restriction-admin", "{allow: [10.0.0.0/8]}", "ip-restriction"},
		{"bot-detection", "{allow: [x]}", "bot-detection"},
		{"blocklist", "{deny: [x]}", ""}, // ip-restriction or bot-detection: ambiguous
		{"limits", "{minute: 5}", "rate-limiting"},
		{"whatever", "{http_endpoint: http://x/}", "http-log"},
		{"rate-limit", "{http_endpoint: http://x/}", "http-log"}, // fields win over the name
		{"nothing", "{}", ""},
		{"jwt", "{not_a_field: 1}", ""},
	} {
		var n yaml.Node
		yaml.Unmarshal([]byte(c.config), &n)
		k := inferKind(c.name, n.Content[0])
		got := ""
		if k != nil {
			got = k.name
		}
		if got != c.want {
			t.Errorf("inferKind(%q, %s) = %q, want %q", c.name, c.config, got, c.want)
		}
	}
}

func TestTranslateLua(t *testing.T) {
	for code, want := range map[string]string{
		"return kong.request.get_header('X-User-ID')":      "$(header.X-User-ID)",
		`return kong.request.get_header("x-tenant")`:       "$(header.x-tenant)",
		" return kong.client.get_ip() ":                    "$(client_ip)",
		"return kong.request.get_header('X-User-ID') .. x": "",
		"local h = kong.request.get_header('a'); return h": "",
	} {
		got, ok := translateLua(code)
		if got != want || ok != (want != "") {
			t.Errorf("translateLua(%q) = %q, %v; want %q", code, got, ok, want)
		}
	}
}

// Plugin instance names stay unique, routes keep distinct names.
func TestUniqueNames(t *testing.T) {
	src := `
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: limit}
plugin: rate-limiting
config: {minute: 5, limit_by: ip}
---
_format_version: "3.0"
services:
  - name: a
    url: http://a:1
    routes: [{name: r, paths: [/a]}]
    plugins: [{name: rate-limiting, instance_name: limit, config: {minute: 9, limit_by: ip}}]
`
	res := mustImport(t, []Source{{Name: "m.yaml", Data: []byte(src)}}, Options{})
	cfg := check(t, res.Config)
	if len(cfg.Plugins) != 2 || cfg.Plugins[0].Name != "limit" || cfg.Plugins[1].Name != "limit-2" {
		t.Fatalf("plugins %+v", cfg.Plugins)
	}
	if !slices.Equal(cfg.Routes[0].Plugins, []string{"limit-2"}) {
		t.Errorf("route plugins %v", cfg.Routes[0].Plugins)
	}
}

// A file that is not YAML is reported with its line, and the other files
// are still imported.
func TestBadYAML(t *testing.T) {
	res := mustImport(t, []Source{
		{Name: "bad.yaml", Data: []byte("a: 1\nb: [\n")},
		{Name: "good.yaml", Data: []byte("_format_version: \"3.0\"\nservices: [{name: s, url: 'http://s:1', routes: [{name: r, paths: [/]}]}]\n")},
	}, Options{})
	if len(res.Untranslated) != 1 || res.Untranslated[0].File != "bad.yaml" || res.Untranslated[0].Line == 0 {
		t.Fatalf("untranslated: %v", res.Untranslated)
	}
	cfg := check(t, res.Config)
	if len(cfg.Routes) != 1 || cfg.Routes[0].Name != "r" {
		t.Errorf("routes %+v", cfg.Routes)
	}
}

// Golden files: inputs → edgeguard YAML and report.
func TestGolden(t *testing.T) {
	for _, c := range []struct {
		name     string
		patterns []string
	}{
		{"article", []string{"testdata/article/*.yaml"}},
		{"kongyml", []string{"testdata/kongyml/kong.yml"}},
		{"untranslated", []string{"testdata/cases/untranslated.yaml"}},
		{"tls-files", []string{"testdata/cases/tls-files.yaml"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := mustImport(t, readSources(t, c.patterns...), Options{})
			var rep bytes.Buffer
			WriteReport(&rep, res)
			for _, g := range []struct {
				file string
				got  []byte
			}{{c.name + ".yaml", res.Config}, {c.name + ".report", rep.Bytes()}} {
				path := filepath.Join("testdata", "golden", g.file)
				if *update {
					os.MkdirAll(filepath.Dir(path), 0o755)
					if err := os.WriteFile(path, g.got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update)", err)
				}
				if !bytes.Equal(g.got, want) {
					t.Errorf("%s differs (go test -update to accept):\n--- got\n%s\n--- want\n%s", path, g.got, want)
				}
			}
		})
	}
}

// The report shown in README.md is the real one.
func TestReadmeReport(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	report, err := os.ReadFile("testdata/golden/article.report")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "  testdata/article/") || strings.HasPrefix(line, "not translated (") {
			n++
			if !strings.Contains(string(report), line+"\n") {
				t.Errorf("README line not in the article report: %s", line)
			}
		}
	}
	if n < 4 {
		t.Errorf("found %d report lines in README.md", n)
	}
}
