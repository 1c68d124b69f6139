package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/proxy/config"
)

// problems parses a config and returns its problems, one per line ("" when
// it is valid).
func problems(t *testing.T, yaml string) string {
	t.Helper()
	_, errs := config.Parse("c.yaml", []byte(yaml))
	if errs == nil {
		return ""
	}
	return errs.Error()
}

// checkProblems runs a table of configs: want "" means the config is
// valid, otherwise the problems must contain want, and as many problems
// are reported as want has lines.
func checkProblems(t *testing.T, cases []struct{ yaml, want string }) {
	t.Helper()
	for _, c := range cases {
		got := problems(t, c.yaml)
		switch {
		case c.want == "" && got != "":
			t.Errorf("%q: want valid, got\n%s", c.yaml, got)
		case c.want != "" && !strings.Contains(got, c.want):
			t.Errorf("%q:\n got: %s\nwant: %s", c.yaml, got, c.want)
		case c.want != "" && strings.Count(got, "\n") != strings.Count(c.want, "\n"):
			t.Errorf("%q: want %d problems, got\n%s", c.yaml, strings.Count(c.want, "\n")+1, got)
		}
	}
}

const acme = "{acme: {hosts: [a.example]}}"

const minimal = "services: [{name: a, targets: [\"127.0.0.1:9\"]}]\nroutes: [{name: r, service: a}]\n"

func target(tg string) string {
	return "services: [{name: a, targets: [\"" + tg + "\"]}]\nroutes: [{name: r, service: a}]\n"
}

// TestAddresses: ports are decimal and in range (listen addresses may use
// port 0, any free port), hosts are IP literals or DNS names.
func TestAddresses(t *testing.T) {
	checkProblems(t, []struct{ yaml, want string }{
		{"listen: {http: \"127.0.0.1:8080\"}\n" + minimal, ""},
		{"listen: {http: \":8080\"}\n" + minimal, ""},
		{"listen: {http: \"[::1]:8080\"}\n" + minimal, ""},
		{"listen: {http: \"localhost:8080\"}\n" + minimal, ""},
		{"listen: {http: \"127.0.0.1:0\"}\nadmin: {listen: \"127.0.0.1:0\"}\n" + minimal, ""},
		{"listen: {http: \"127.0.0.1:99999\"}\n" + minimal, `c.yaml:1:16: listen.http: invalid address "127.0.0.1:99999": port must be 0-65535`},
		{"listen: {http: \"127.0.0.1:-1\"}\n" + minimal, `listen.http: invalid address "127.0.0.1:-1": port must be 0-65535`},
		{"listen: {http: \"127.0.0.1:http\"}\n" + minimal, `listen.http: invalid address "127.0.0.1:http": port must be 0-65535`},
		{"listen: {http: \"127.0.0.1:\"}\n" + minimal, `listen.http: invalid address "127.0.0.1:": port must be 0-65535`},
		{"listen: {http: \"host name:80\"}\n" + minimal, `listen.http: invalid address "host name:80": "host name" is not an IP address or host name`},
		{"listen: {https: \"[zz]:443\", tls: " + acme + "}\n" + minimal, `listen.https: invalid address "[zz]:443": "zz" is not an IPv6 address`},
		{"admin: {listen: \"127.0.0.1:65536\"}\n" + minimal, `admin.listen: invalid address "127.0.0.1:65536": port must be 0-65535`},
		{"admin: {listen: \"a@b:8001\", token: 0123456789abcdef}\n" + minimal, `admin.listen: invalid address "a@b:8001": "a@b" is not an IP address or host name`},

		{target("127.0.0.1:80"), ""},
		{target("localhost:80"), ""},
		{target("[::1]:80"), ""},
		{target("http://api.internal:8080"), ""},
		{target("https://api.internal:8443/"), ""},
		{target("my_service.default.svc:80"), ""},
		{target("127.0.0.1:0"), `c.yaml:1:32: services[0].targets[0]: invalid target "127.0.0.1:0": port must be 1-65535`},
		{target("127.0.0.1:-1"), `invalid target "127.0.0.1:-1": port must be 1-65535`},
		{target("127.0.0.1:65536"), `invalid target "127.0.0.1:65536": port must be 1-65535`},
		{target("127.0.0.1:+80"), `invalid target "127.0.0.1:+80": port must be 1-65535`},
		{target("host name:80"), `invalid target "host name:80": "host name" is not an IP address or host name`},
		{target("[zz]:1"), `invalid target "[zz]:1": "zz" is not an IPv6 address`},
		{target("[127.0.0.1]:1"), `invalid target "[127.0.0.1]:1": "127.0.0.1" is not an IPv6 address`},
		{target("a/b:80"), `invalid target "a/b:80": "a/b" is not an IP address or host name`},
		{target("http://user@host:80"), `"user@host" is not an IP address or host name`},
		{target("http://host:80/path"), `invalid target "http://host:80/path": port must be 1-65535`},
		{target("127.0.0.256:80"), `"127.0.0.256" is not an IP address or host name`},
		{target("a..b:80"), `"a..b" is not an IP address or host name`},
		{target("-a.b:80"), `"-a.b" is not an IP address or host name`},
		{target(":80"), `invalid target ":80": want host:port`},
		{target("nohostport"), `invalid target "nohostport": want host:port`},
	})
}

// TestListenConflicts: two listeners on the same host and port is an
// error at the later one (a wildcard host overlaps every host).
func TestListenConflicts(t *testing.T) {
	checkProblems(t, []struct{ yaml, want string }{
		{"listen: {http: \"127.0.0.1:8080\", https: \"127.0.0.1:8443\", tls: " + acme + "}\nadmin: {listen: \"127.0.0.1:8001\"}\n" + minimal, ""},
		{"listen: {http: \"127.0.0.1:0\"}\nadmin: {listen: \"127.0.0.1:0\"}\n" + minimal, ""},
		{"listen: {http: \"127.0.0.1:8001\"}\nadmin: {listen: \"off\"}\n" + minimal, ""},
		{"listen: {http: \"127.0.0.1:8080\"}\nadmin: {listen: \"127.0.0.2:8080\"}\n" + minimal, ""},
		{"listen: {http: \"127.0.0.1:8001\"}\n" + minimal, `c.yaml:1:1: admin.listen: the default 127.0.0.1:8001 is the address of listen.http`},
		{"listen: {http: \"127.0.0.1:8080\"}\nadmin: {listen: \"127.0.0.1:8080\"}\n" + minimal, `c.yaml:2:17: admin.listen: same address as listen.http (127.0.0.1:8080)`},
		{"listen: {http: \"[::1]:80\", https: \"[0::1]:080\", tls: " + acme + "}\n" + minimal, `c.yaml:1:35: listen.https: same address as listen.http ([::1]:80)`},
		{"listen: {http: \":8080\"}\nadmin: {listen: \"127.0.0.1:8080\"}\n" + minimal, `admin.listen: same address as listen.http (:8080)`},
		{"listen: {http: \"127.0.0.1:8080\"}\nadmin: {listen: \"0.0.0.0:8080\", token: 0123456789abcdef}\n" + minimal, `admin.listen: same address as listen.http (127.0.0.1:8080)`},
	})
}

// TestOneDocument: a second YAML document is an error, not ignored; a
// final "---" with nothing (or only comments) after it is allowed.
func TestOneDocument(t *testing.T) {
	checkProblems(t, []struct{ yaml, want string }{
		{minimal + "---\n", ""},
		{minimal + "---\n# nothing here\n", ""},
		{"---\n" + minimal, ""},
		{"---\n" + minimal + "...\n", ""},
		{minimal + "---\nlisten: {http: x}\n", `c.yaml:4:1: a config file holds one YAML document`},
		{minimal + "---\n---\nlisten: {http: x}\n", `c.yaml:5:1: a config file holds one YAML document`},
		{minimal + "--- 1\n", `c.yaml:3:5: a config file holds one YAML document`},
		{"---\n---\n" + minimal, ""},
		{minimal + "---\nlisten: [\n", `invalid YAML`},
	})
}

// TestMessagesNamePath: every problem names the field it is in, once.
func TestMessagesNamePath(t *testing.T) {
	os.Unsetenv("EG_UNSET")
	dir := t.TempDir()
	checkProblems(t, []struct{ yaml, want string }{
		{"admin: {token: \"${EG_UNSET}\"}\n" + minimal, `c.yaml:1:16: admin.token: environment variable EG_UNSET is not set`},
		{"admin: {allow: [\"${bad-name}\"]}\n" + minimal, `c.yaml:1:17: admin.allow[0]: invalid environment variable name "bad-name"`},
		{"services: [{name: a, targets: [\"${EG_UNSET\"]}]\nroutes: [{name: r, service: a}]\n", `c.yaml:1:32: services[0].targets[0]: unterminated ${ in "${EG_UNSET"`},
		{"admin: {token_file: " + filepath.Join(dir, "missing") + "}\n" + minimal, `c.yaml:1:21: admin.token_file: cannot read secret file`},
		{"admin: {token: abcdefghijklmnopq, token_file: x}\n" + minimal, `c.yaml:1:35: admin.token_file: give either token or token_file, not both`},
		{"admin: {token_file: \"\"}\n" + minimal, `c.yaml:1:21: admin.token_file: must be a file path`},
		{minimal + "routes: [{name: r2, service: a}]\n", `c.yaml:3:1: routes: duplicate key (first at line 2)`},
		// The first value is kept and checked.
		{"routes: [{name: r, service: a, hosts: [\"\"]}]\nroutes: []\nservices: [{name: a, targets: [\"127.0.0.1:9\"]}]\n", "c.yaml:1:40: routes[0].hosts[0]: must not be empty (leave hosts out to match any host)\nc.yaml:2:1: routes: duplicate key (first at line 1)"},
		{"services: [{name: a, targets: [\"127.0.0.1:9\"], name: b}]\nroutes: [{name: r, service: a}]\n", `c.yaml:1:48: services[0].name: duplicate key (first at line 1)`},
		{"plugins:\n  - name: p\n    plugin: request-size-limiting\n    config: {allowed_payload_size: 1}\n    name: q\n" + minimal, `c.yaml:5:5: plugins[0].name: duplicate key (first at line 2)`},
		{"access_log: {custom_fields: {a: x, a: y}}\n" + minimal, `c.yaml:1:36: access_log.custom_fields.a: duplicate key (first at line 1)`},
		{"routes: [{name: r, service: a, strip_path: \"false\"}]\nservices: [{name: a, targets: [\"127.0.0.1:9\"]}]\n", `c.yaml:1:44: routes[0].strip_path: must be true or false, not the string "false" (remove the quotes)`},
		{"services: [{name: a, targets: [\"127.0.0.1:9\"], retries: '2'}]\nroutes: [{name: r, service: a}]\n", `services[0].retries: must be a whole number, not the string "2" (remove the quotes)`},
		{"routes: [{name: r, service: a, strip_path: maybe}]\nservices: [{name: a, targets: [\"127.0.0.1:9\"]}]\n", `routes[0].strip_path: must be true or false (got "maybe")`},
		{"services: [{name: a, targets: [\"https://127.0.0.1:9\"], tls: {ca_file: " + filepath.Join(dir, "missing.pem") + "}}]\nroutes: [{name: r, service: a}]\n", `services[0].tls: open `},
		{"services: [{name: a, targets: [\"https://127.0.0.1:9\"], tls: {cert_file: c.pem}}]\nroutes: [{name: r, service: a}]\n", `services[0].tls: cert_file and key_file go together`},
	})
	// The field is named once: no "tls: tls:".
	if got := problems(t, "services: [{name: a, targets: [\"https://127.0.0.1:9\"], tls: {ca_file: "+filepath.Join(dir, "missing.pem")+"}}]\nroutes: [{name: r, service: a}]\n"); strings.Contains(got, "tls: tls:") {
		t.Errorf("repeated field: %s", got)
	}
}

// TestBoolWords documents what yaml.v3 takes for a bool field: true and
// false (also True, TRUE, ...), and, for YAML 1.1 compatibility, y, yes,
// on, n, no and off in their three spellings. These are kept.
func TestBoolWords(t *testing.T) {
	for word, want := range map[string]bool{"true": true, "True": true, "yes": true, "on": true, "y": true, "false": false, "No": false, "off": false, "n": false} {
		cfg, errs := config.Parse("c.yaml", []byte("routes: [{name: r, service: a, strip_path: "+word+"}]\nservices: [{name: a, targets: [\"127.0.0.1:9\"]}]\n"))
		if errs != nil || cfg.Routes[0].StripPath != want {
			t.Errorf("%s: %v %v", word, cfg.Routes, errs)
		}
	}
}

// TestRejectedValues: values that would silently do something else.
func TestRejectedValues(t *testing.T) {
	hc := func(s string) string {
		return "services: [{name: a, targets: [\"127.0.0.1:9\"], healthchecks: {passive: " + s + "}}]\nroutes: [{name: r, service: a}]\n"
	}
	checkProblems(t, []struct{ yaml, want string }{
		{"services: [{name: a, targets: [\"127.0.0.1:9\"]}]\nroutes: [{name: r, service: a, hosts: [\"a.example\", \"\"]}]\n", `c.yaml:2:53: routes[0].hosts[1]: must not be empty (leave hosts out to match any host)`},
		{hc("{failures: 5, ejection: 30s}"), ""},
		{hc("{failures: -1}"), ""},
		{hc("{failures: 0}"), `c.yaml:1:83: services[0].healthchecks.passive.failures: must be at least 1 (-1 disables ejection)`},
		{hc("{ejection: -5s}"), `services[0].healthchecks.passive.ejection: must be positive`},
		{"real_ip_header: X-Real-IP\n" + minimal, ""},
		{"real_ip_header: \"X Forwarded For\"\n" + minimal, `c.yaml:1:17: real_ip_header: invalid header name "X Forwarded For"`},
		{"real_ip_header: \"X-Forwarded-For:\"\n" + minimal, `real_ip_header: invalid header name "X-Forwarded-For:"`},
		{"server: {headers_with_underscores: reject}\n" + minimal, ""},
		{"server: {headers_with_underscores: dropp}\n" + minimal, `c.yaml:1:36: server.headers_with_underscores: must be drop, allow or reject (got "dropp")`},
	})
}
