package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/edgeguard/edgeguard/filters/sizelimit"
	"github.com/edgeguard/edgeguard/proxy/config"
)

const issueExample = `listen: {http: "127.0.0.1:8080"}
admin: {listen: "127.0.0.1:8001", token: "${EDGEGUARD_ADMIN_TOKEN}", allow: ["127.0.0.1/32"]}
trusted_proxies: ["10.0.0.0/8"]
services:
  - {name: api, targets: ["127.0.0.1:9000"], connect_timeout: 2s, read_timeout: 30s}
routes:
  - {name: api-standard, hosts: ["api.example.com"], paths: ["/v1"], service: api,
     plugins: [size-limit]}
plugins:
  - {name: size-limit, plugin: request-size-limiting,
     config: {allowed_payload_size: 10, size_unit: megabytes, require_content_length: true}}
global_plugins: []
`

func TestIssueExampleLoads(t *testing.T) {
	t.Setenv("EDGEGUARD_ADMIN_TOKEN", "0123456789abcdef-token")
	cfg, errs := config.Parse("edgeguard.yaml", []byte(issueExample))
	if errs != nil {
		t.Fatal(errs)
	}
	if cfg.Admin.Token != "0123456789abcdef-token" || cfg.Services[0].ConnectTimeout.String() != "2s" || cfg.Routes[0].Plugins[0] != "size-limit" {
		t.Fatalf("%+v", cfg)
	}
}

func TestErrorsNamePlace(t *testing.T) {
	os.Unsetenv("EDGEGUARD_MISSING")
	cases := []struct{ yaml, want string }{
		{"listen: {htp: \"x\"}\n", `edgeguard.yaml:1:10: listen.htp: unknown field (did you mean "http"?)`},
		{"services:\n  - {name: a, targets: [\"h:1\"], connect_timeout: 2 seconds}\nroutes: [{name: r, service: a}]\n", "edgeguard.yaml:2:"},
		{"services:\n  - {name: a, targets: [\"nohostport\"]}\nroutes: [{name: r, service: a}]\n", `edgeguard.yaml:2:25: services[0].targets[0]: invalid target "nohostport": want host:port`},
		{"services: [{name: a, targets: [\"h:1\"]}]\nroutes:\n  - {name: r, service: b}\n", `edgeguard.yaml:3:24: routes[0].service: no service named "b"`},
		{"services: [{name: a, targets: [\"h:1\"]}]\nroutes: [{name: r, service: a, plugins: [nope]}]\n", `edgeguard.yaml:2:42: routes[0].plugins[0]: no plugin instance named "nope"`},
		{"trusted_proxies: [\"10.0.0.0/33\"]\nservices: [{name: a, targets: [\"h:1\"]}]\nroutes: [{name: r, service: a}]\n", `edgeguard.yaml:1:19: trusted_proxies[0]:`},
		{"admin: {listen: \"0.0.0.0:8001\"}\nservices: [{name: a, targets: [\"h:1\"]}]\nroutes: [{name: r, service: a}]\n", `admin.token: the admin API listens on a non-loopback address`},
		{"admin: {token: \"${EDGEGUARD_MISSING}\"}\nservices: [{name: a, targets: [\"h:1\"]}]\nroutes: [{name: r, service: a}]\n", `edgeguard.yaml:1:16: admin.token: environment variable EDGEGUARD_MISSING is not set`},
		{"plugins: [{name: p, plugin: rate-limitin}]\nservices: [{name: a, targets: [\"h:1\"]}]\nroutes: [{name: r, service: a}]\n", `edgeguard.yaml:1:29: plugins[0].plugin: unknown plugin "rate-limitin"`},
		{"server: {max_body_size: 10 potatoes}\nservices: [{name: a, targets: [\"h:1\"]}]\nroutes: [{name: r, service: a}]\n", `edgeguard.yaml:1:25: server.max_body_size: invalid size "10 potatoes"`},
		{"services: [{name: a, targets: [\"h:1\"]}, {name: a, targets: [\"h:2\"]}]\nroutes: [{name: r, service: a}]\n", `services[1].name: duplicate service name "a"`},
		{"listen: [\n", `edgeguard.yaml:1:1: invalid YAML`},
		{"services: [{name: a, targets: [\"h:1\"]}]\n", `routes: at least one route is required`},
	}
	for _, c := range cases {
		_, errs := config.Parse("edgeguard.yaml", []byte(c.yaml))
		if errs == nil {
			t.Errorf("%q: no error, want %s", c.yaml, c.want)
			continue
		}
		if !strings.Contains(errs.Error(), c.want) {
			t.Errorf("%q:\n got: %s\nwant: %s", c.yaml, errs.Error(), c.want)
		}
	}
}

func TestEveryProblemReported(t *testing.T) {
	_, errs := config.Parse("c.yaml", []byte("services:\n  - {name: a, targets: [\"bad\"], retries: 99}\nroutes:\n  - {name: r, service: x}\n  - {name: r, service: a, plugins: [ghost]}\n"))
	if errs == nil || len(errs.List) != 5 {
		t.Fatalf("want 5 problems, got %v", errs)
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token"), []byte("from-a-file-0123456789\n"), 0o600)
	f := filepath.Join(dir, "c.yaml")
	os.WriteFile(f, []byte("admin: {token_file: token}\nservices: [{name: a, targets: [\"h:1\"]}]\nroutes: [{name: r, service: a}]\n"), 0o600)
	cfg, errs := config.Load(f)
	if errs != nil {
		t.Fatal(errs)
	}
	if cfg.Admin.Token != "from-a-file-0123456789" {
		t.Fatalf("token %q", cfg.Admin.Token)
	}
	os.WriteFile(f, []byte("admin: {token_file: missing}\nservices: [{name: a, targets: [\"h:1\"]}]\nroutes: [{name: r, service: a}]\n"), 0o600)
	if _, errs := config.Load(f); errs == nil || !strings.Contains(errs.Error(), "c.yaml:1:21: admin.token_file: cannot read secret file") {
		t.Fatalf("missing secret file: %v", errs)
	}
}

func TestEnvDefault(t *testing.T) {
	cfg, errs := config.Parse("c.yaml", []byte("listen: {http: \"${EG_NOPE:-127.0.0.1:9999}\"}\nservices: [{name: a, targets: [\"h:1\"]}]\nroutes: [{name: r, service: a}]\n"))
	if errs != nil || cfg.Listen.HTTP != "127.0.0.1:9999" {
		t.Fatalf("%v %v", cfg.Listen, errs)
	}
}

// The Kubernetes example config must stay valid.
func TestDeployConfigMapIsValid(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes/edgeguard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	start := strings.Index(s, "edgeguard.yaml: |\n") + len("edgeguard.yaml: |\n")
	end := strings.Index(s[start:], "---")
	var b strings.Builder
	for _, line := range strings.Split(s[start:start+end], "\n") {
		b.WriteString(strings.TrimPrefix(line, "    ") + "\n")
	}
	t.Setenv("EDGEGUARD_ADMIN_TOKEN", "a-long-enough-test-token")
	if _, errs := config.Parse("configmap", []byte(b.String())); errs != nil {
		t.Fatal(errs)
	}
}

func TestEnvTyped(t *testing.T) {
	t.Setenv("EG_RETRIES", "3")
	cfg, errs := config.Parse("c.yaml", []byte("services:\n  - name: a\n    targets: [\"h:1\"]\n    retries: ${EG_RETRIES}\nroutes: [{name: r, service: a}]\n"))
	if errs != nil || *cfg.Services[0].Retries != 3 {
		t.Fatalf("plain ${VAR} into an int: %v", errs)
	}
	if _, errs := config.Parse("c.yaml", []byte("services: [{name: a, targets: [\"h:1\"], retries: \"${EG_RETRIES}\"}]\nroutes: [{name: r, service: a}]\n")); errs == nil {
		t.Fatal("a quoted ${VAR} must stay a string")
	}
}
