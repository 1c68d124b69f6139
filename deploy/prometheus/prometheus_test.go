// Package prometheus_test checks the shipped alert rules with promtool
// (rule syntax and the unit tests of every alert) and scrapes a live
// gateway to lint its /metrics output and check counter values after a
// scripted sequence of requests. Tests that need promtool skip when it is
// not installed (Debian: apt-get install prometheus).
package prometheus_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
	"gopkg.in/yaml.v3"

	_ "github.com/edgeguard/edgeguard/filters/all"
	_ "github.com/edgeguard/edgeguard/filters/httplog" // until filters/all imports it
	"github.com/edgeguard/edgeguard/proxy"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install -y prometheus)")
	}
	return p
}

func run(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

var ruleFiles = []string{"alerts.yml", "alerts-kong-compat.yml"}
var testFiles = []string{"alerts_test.yml", "alerts-kong-compat_test.yml"}

func TestAlertRules(t *testing.T) {
	pt := promtool(t)
	run(t, nil, pt, append([]string{"check", "rules"}, ruleFiles...)...)
	run(t, nil, pt, append([]string{"test", "rules"}, testFiles...)...)
}

// TestEveryAlertHasUnitTests: each alert of a rule file appears in its test
// file, both firing and not firing.
func TestEveryAlertHasUnitTests(t *testing.T) {
	for i, rf := range ruleFiles {
		var rules struct {
			Groups []struct {
				Rules []struct {
					Alert string `yaml:"alert"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		var tests struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string `yaml:"alertname"`
					ExpAlerts []any  `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		readYAML(t, rf, &rules)
		readYAML(t, testFiles[i], &tests)
		fires, quiet := map[string]bool{}, map[string]bool{}
		for _, tc := range tests.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
		n := 0
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				n++
				if !fires[r.Alert] || !quiet[r.Alert] {
					t.Errorf("%s: alert %s needs a firing and a quiet case in %s (firing %v, quiet %v)", rf, r.Alert, testFiles[i], fires[r.Alert], quiet[r.Alert])
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no alerts", rf)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestAlertMetricsExist: every edgeguard_/kong_ metric an alert or the
// dashboard uses is one the code exports (its name appears in the sources).
func TestAlertMetricsExist(t *testing.T) {
	src := sourceText(t)
	for _, f := range append(append([]string{}, ruleFiles...), "../grafana/edgeguard.json") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricName.FindAllString(string(b), -1) {
			m = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
			if !strings.Contains(src, m) {
				t.Errorf("%s uses %s, which no Go source exports", f, m)
			}
		}
	}
}

var metricName = regexp.MustCompile(`\b(edgeguard|kong)_[a-z_]+[a-z]\b`)

func sourceText(t *testing.T) string {
	var sb strings.Builder
	for _, dir := range []string{"../../proxy", "../../filters", "../../limiter"} {
		err := walkGo(dir, func(b []byte) { sb.Write(b) })
		if err != nil {
			t.Fatal(err)
		}
	}
	return sb.String()
}

func walkGo(dir string, fn func([]byte)) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := dir + "/" + e.Name()
		if e.IsDir() {
			if err := walkGo(p, fn); err != nil {
				return err
			}
			continue
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fn(b)
		}
	}
	return nil
}

// --- live gateway ---

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func startBackend(t *testing.T) string {
	ln := listen(t)
	s := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
		if string(rc.Path()) == "/v1/missing" {
			rc.SetStatusCode(404)
			return
		}
		rc.SetContentType("application/json")
		rc.SetBodyString(`{"ok":true}`)
	}}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown() })
	return ln.Addr().String()
}

func startCollector(t *testing.T) (string, *atomic.Int64) {
	ln := listen(t)
	var n atomic.Int64
	s := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) { n.Add(1) }}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown() })
	return ln.Addr().String(), &n
}

const gatewayYAML = `
listen: {http: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0", audit_log: "@LOG@.audit"}
access_log: {path: "@LOG@"}
data_dir: "@LOG@.data"
metrics: {kong_compat: true}
services: [{name: b, targets: ["@B@"]}]
routes:
  - {name: items, paths: ["/v1"], service: b, plugins: [size, audit]}
  - {name: private, paths: ["/private"], service: b, plugins: [auth]}
plugins:
  - {name: auth, plugin: jwt, config: {issuers: [{issuer: "http://@J@/", jwks_uri: "http://@J@/keys"}], jwks: {startup_wait: 0}}}
  - {name: size, plugin: request-size-limiting, config: {allowed_payload_size: 1, size_unit: kilobytes}}
  - {name: audit, plugin: http-log, config: {http_endpoint: "http://@C@/logs"}}
`

func TestLiveGatewayMetrics(t *testing.T) {
	// # TYPE lines let promtool check counter/gauge naming; the gateway
	// should enable them at start too (see README).
	metrics.ExposeMetadata(true)
	backend := startBackend(t)
	col, _ := startCollector(t)
	idp, _ := startCollector(t) // answers 200 with no body: every JWKS fetch fails
	yml := strings.NewReplacer("@B@", backend, "@C@", col, "@J@", idp, "@LOG@", t.TempDir()+"/access.log").Replace(gatewayYAML)
	g, err := proxy.New(proxy.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loader: func() (*config.Config, *confnode.Errors) {
		return config.Parse("metrics.yaml", []byte(yml))
	}})
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve()
	<-g.Ready()
	t.Cleanup(func() { g.Shutdown() })
	addr := g.Addr().String()

	// the scripted sequence
	do := func(method, path string, body []byte, want int) {
		t.Helper()
		var req fasthttp.Request
		var resp fasthttp.Response
		req.Header.SetMethod(method)
		req.SetRequestURI("http://" + addr + path)
		if body != nil {
			req.SetBody(body)
		}
		if err := fasthttp.DoTimeout(&req, &resp, 5*time.Second); err != nil || resp.StatusCode() != want {
			t.Fatalf("%s %s: %v %d, want %d", method, path, err, resp.StatusCode(), want)
		}
	}
	for i := 0; i < 5; i++ {
		do("GET", "/v1/items", nil, 200)
	}
	do("GET", "/v1/missing", nil, 404)
	do("GET", "/nope", nil, 404)
	do("POST", "/v1/items", bytes.Repeat([]byte("x"), 4096), 413)
	do("GET", "/private/x", nil, 401)

	// http-log counts an entry as sent once the collector answered
	var text string
	for deadline := time.Now().Add(10 * time.Second); ; {
		text = scrape(t, g.AdminAddr().String())
		if strings.Contains(text, `edgeguard_http_log_sent_total{plugin="audit"} 7`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	want := map[string]float64{
		`edgeguard_http_requests_total{route="items",service="b",code="200"}`:           5,
		`edgeguard_http_requests_total{route="items",service="b",code="404"}`:           1,
		`edgeguard_http_requests_total{route="items",service="b",code="413"}`:           1,
		`edgeguard_http_requests_total{route="private",service="b",code="401"}`:         1,
		`kong_http_status{service="b",route="private",code="401"}`:                      1,
		`edgeguard_unmatched_requests_total`:                                            1,
		`edgeguard_request_duration_seconds_count{route="items",service="b"}`:           7,
		`edgeguard_upstream_duration_seconds_count{route="items",service="b"}`:          6,
		`kong_http_status{service="b",route="items",code="200"}`:                        5,
		`kong_http_status{service="b",route="items",code="413"}`:                        1,
		`edgeguard_http_log_sent_total{plugin="audit"}`:                                 7,
		`edgeguard_http_log_dropped_total{plugin="audit"}`:                              0,
		`edgeguard_bandwidth_bytes_total{route="items",service="b",direction="egress"}`: -1, // present
	}
	got := parseSamples(text)
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("metric %s missing", k)
		case v >= 0 && g != v:
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	var rej float64
	for k, v := range got {
		if strings.HasPrefix(k, `edgeguard_rejections_total{route="items",plugin="size"`) {
			rej += v
		}
	}
	if rej != 1 {
		t.Errorf("edgeguard_rejections_total for size = %v, want 1", rej)
	}
	if !strings.Contains(text, `edgeguard_jwks_fetch_errors_total{plugin="auth",issuer="http://`+idp+`/"}`) {
		t.Errorf("JWKS metrics missing")
	}

	// promtool's linter on the live output (the counters above are checked
	// even without promtool)
	pt := promtool(t)
	cmd := exec.Command(pt, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, _ := cmd.CombinedOutput()
	if probs := lintProblems(string(out)); len(probs) > 0 {
		t.Errorf("promtool check metrics:\n%s", strings.Join(probs, "\n"))
	}
}

func scrape(t *testing.T, admin string) string {
	t.Helper()
	var req fasthttp.Request
	var resp fasthttp.Response
	req.SetRequestURI("http://" + admin + "/metrics")
	if err := fasthttp.DoTimeout(&req, &resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
		t.Fatalf("scrape: %v %d %s", err, resp.StatusCode(), resp.Body())
	}
	return string(resp.Body())
}

// parseSamples maps "name{labels}" to its value.
func parseSamples(text string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// knownLint are promtool findings accepted or not ours to fix; each entry
// is a substring of a finding.
var knownLint = []string{
	// VictoriaMetrics/metrics writes "# HELP name" without text.
	"no help text",
	// Kong's own names, exported as Kong spells them (metrics.kong_compat).
	"kong_kong_latency_ms", "kong_request_latency_ms", "kong_upstream_latency_ms", `kong_http_status counter metrics should have "_total" suffix`,
	// Go runtime and process metrics written by VictoriaMetrics/metrics.
	"go_", "process_", // (prefix match is enough: no edgeguard_ name contains them)
	// TODO(jwt owner): monotonic JWKS counters exported as gauges; make them
	// counters (metrics.Counter.Set from the stats, or a metrics writer).
	`edgeguard_jwks_fetches_total non-counter metrics should not have "_total" suffix`,
	`edgeguard_jwks_fetch_errors_total non-counter metrics should not have "_total" suffix`,
	`edgeguard_jwks_unknown_kid_total non-counter metrics should not have "_total" suffix`,
}

func lintProblems(out string) []string {
	var probs []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		known := false
		for _, k := range knownLint {
			if strings.Contains(l, k) {
				known = true
			}
		}
		if !known {
			probs = append(probs, l)
		}
	}
	sort.Strings(probs)
	return probs
}

// TestDashboard: the Grafana dashboard is valid JSON and every panel has
// queries with unique refIds.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("../grafana/edgeguard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard: uid %q, %d panels", d.UID, len(d.Panels))
	}
	for _, p := range d.Panels {
		seen := map[string]bool{}
		for _, q := range p.Targets {
			if q.Expr == "" || seen[q.RefID] {
				t.Errorf("panel %q: empty query or duplicate refId %q", p.Title, q.RefID)
			}
			seen[q.RefID] = true
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
	}
}
