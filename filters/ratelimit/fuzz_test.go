package ratelimit

import (
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// FuzzConfig feeds arbitrary YAML to the plugin's config parser. It must
// never panic; a config it accepts must build a filter that decides a
// request (local policy only: the fuzzer must not reach the network).
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"minute: 5",
		"second: 10\nminute: 100\nhour: 1000\npolicy: redis\nredis_host: redis\nredis_port: 6379\nfault_tolerant: true",
		"tiers:\n  standard: {second: 10}\n  premium: {second: 100}\ntier_source: jwt.plan\ndefault_tier: standard",
		"minute: 5\nlimit_by: header\nheader_name: X-Api-Key",
		"minute: 5\nlimit_by: ip\nipv6_prefix: 48",
		"minute: 1.5\nhour: -1\nlimit_by: path\npath: /x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, yaml string) {
		env := filtertest.Env(t)
		flt, err := filtertest.Build(env, "rate-limiting", yaml)
		if err != nil || flt == nil {
			return
		}
		rl := flt.(*RateLimit)
		if rl.redis != nil {
			return
		}
		req := filtertest.NewRequest("GET", "/x", "203.0.113.1")
		req.RC.Request.Header.Set("X-Api-Key", "k")
		req.Ctx.Consumer = &filters.Consumer{ID: "c", Tier: "premium"}
		req.Ctx.Start = time.Now()
		if v := req.Run(flt); v != filters.Continue {
			t.Fatalf("first request rejected: %d %s", req.RC.Response.StatusCode(), req.RC.Response.Body())
		}
	})
}
