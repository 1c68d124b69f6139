package config_test

import (
	"testing"

	"github.com/edgeguard/edgeguard/proxy/config"
)

// FuzzParse feeds arbitrary YAML to the loader: it must never panic, and
// every error it reports must name the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(issueExample))
	f.Add([]byte("listen: {htp: x}\n"))
	f.Add([]byte("services: [{name: a, targets: [\"h:1\"]}]\nroutes: [{name: r, service: a}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("admin: {token: \"${X:-y}\"}\n"))
	f.Add([]byte("routes: [{name: r, hosts: [\"*.a\"], paths: [\"/../x\"]}]\n"))
	f.Add([]byte(minimal + "---\nlisten: {http: x}\n"))
	f.Add([]byte(minimal + "routes: []\nb: &a {x: 1, x: 2}\n"))
	f.Add([]byte("listen: {http: \"[::1]:0\", https: \":80\"}\nservices: [{name: a, targets: [\"https://[fe80::1%eth0]:65535/\", \"a_b.-c:1\"]}]\n"))
	f.Add([]byte("real_ip_header: \"X-A\"\nroutes: [{strip_path: \"true\", hosts: [\"\"]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, errs := config.Parse("fuzz.yaml", data)
		if errs == nil {
			if cfg == nil {
				t.Fatal("nil config without errors")
			}
			return
		}
		for _, e := range errs.List {
			if e.File != "fuzz.yaml" || e.Msg == "" {
				t.Fatalf("bad error %+v", e)
			}
		}
	})
}
