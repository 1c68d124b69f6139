package ratelimit

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// TestREADMEExamples builds every rate-limiting config of README.md, so the
// docs cannot drift from the code.
func TestREADMEExamples(t *testing.T) {
	t.Setenv("REDIS_PASSWORD", "x")
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(data), "```yaml\n")[1:]
	built := 0
	for _, b := range blocks {
		b = b[:strings.Index(b, "```")]
		var doc struct {
			Plugins []struct {
				Name   string    `yaml:"name"`
				Plugin string    `yaml:"plugin"`
				Config yaml.Node `yaml:"config"`
			} `yaml:"plugins"`
		}
		if err := yaml.Unmarshal([]byte(b), &doc); err != nil {
			t.Fatalf("example %q: %v", b, err)
		}
		for _, p := range doc.Plugins {
			if p.Plugin != "rate-limiting" {
				continue
			}
			cfg, _ := yaml.Marshal(&p.Config)
			env := filtertest.Env(t)
			env.InstanceName = p.Name
			f, err := filtertest.Build(env, "rate-limiting", string(cfg))
			if err != nil {
				t.Errorf("example %s: %v", p.Name, err)
				continue
			}
			built++
			if f.(*RateLimit).redis != nil {
				continue // no Redis at the example's address
			}
			r := filtertest.NewRequest("GET", "/v1/orders", "203.0.113.7")
			r.Ctx.Consumer = &filters.Consumer{ID: "c-1", Username: "alice", Tier: "premium"}
			r.Ctx.Claims = claims{"plan": "premium"}
			if v := r.Run(f); v != filters.Continue {
				t.Errorf("example %s: first request rejected", p.Name)
			}
		}
	}
	if built < 5 {
		t.Fatalf("built %d README examples", built)
	}
}
