package proxy

import (
	"strings"
	"testing"

	_ "github.com/edgeguard/edgeguard/filters/all"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// FuzzCheck runs arbitrary YAML through everything `edgeguard validate`
// does: parsing, the config checks and compiling every route and plugin
// (config.FuzzParse covers the parser alone). It must never panic, and a
// refused file's every problem names the file. A bad duration once left a
// service without defaults and compiling it panicked.
func FuzzCheck(f *testing.F) {
	f.Add([]byte("services: [{name: a, targets: [\"127.0.0.1:9\"], connect_timeout: 2x}]\nroutes: [{name: r, service: a}]\n"))
	f.Add([]byte("services: [{name: a, targets: \"h:1\", retries: many}]\nroutes: [{name: r, service: a, methds: [GET]}]\n"))
	f.Add([]byte(`trusted_proxies: ["10.0.0.0/8"]
services: [{name: api, targets: ["127.0.0.1:9000", "127.0.0.1:9001"], read_timeout: 30s, healthchecks: {passive: {failures: 2}}}]
routes:
  - {name: api, hosts: ["*.example.com"], paths: ["/v1"], methods: [GET, POST], service: api, plugins: [lim, rl, ip, bots]}
plugins:
  - {name: lim, plugin: request-size-limiting, config: {allowed_payload_size: 10, size_unit: kilobytes, require_content_length: true}}
  - {name: rl, plugin: rate-limiting, config: {second: 5, hour: 1000, limit_by: ip}}
  - {name: ip, plugin: ip-restriction, config: {allow: ["127.0.0.0/8"], deny: ["127.0.0.2"]}}
  - {name: bots, plugin: bot-detection, config: {deny: ["curl"]}}
global_plugins: []
`))
	f.Add([]byte(`services: [{name: a, targets: ["127.0.0.1:9"]}]
routes: [{name: r, service: a, plugins: [v, t]}]
plugins:
  - {name: v, plugin: request-validator, config: {body_schema: '{"type":"object","properties":{"n":{"type":"integer"}}}', allowed_content_types: [application/json]}}
  - {name: t, plugin: request-transformer, config: {remove: {headers: [Cookie]}, add: {headers: ["X-A:1"]}}}
`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Contains(string(data), "http") {
			t.Skip("no network from fuzzed configs (jwks_uri, http-log)")
		}
		err := Check(func() (*config.Config, *confnode.Errors) { return config.Parse("fuzz.yaml", data) })
		if err == nil {
			return
		}
		es, ok := err.(*confnode.Errors)
		if !ok {
			t.Fatalf("not a list of problems: %v", err)
		}
		for _, e := range es.List {
			if e.File != "fuzz.yaml" || e.Msg == "" {
				t.Fatalf("bad error %+v", e)
			}
		}
	})
}
