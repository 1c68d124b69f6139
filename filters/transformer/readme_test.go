package transformer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// TestREADMEExamples builds every plugin config of README.md, so the docs
// cannot drift from the code.
func TestREADMEExamples(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := keyFile(t)
	secret := filepath.Join(t.TempDir(), "gateway.secret")
	os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	blocks := strings.Split(string(data), "```yaml\n")[1:]
	if len(blocks) < 3 {
		t.Fatalf("found %d yaml examples", len(blocks))
	}
	for _, b := range blocks {
		b = b[:strings.Index(b, "```")]
		b = strings.ReplaceAll(b, "/etc/edgeguard/gateway.pem", key)
		b = strings.ReplaceAll(b, "/etc/edgeguard/gateway.secret", secret)
		var doc struct {
			Plugins []struct {
				Name   string    `yaml:"name"`
				Plugin string    `yaml:"plugin"`
				Config yaml.Node `yaml:"config"`
			} `yaml:"plugins"`
		}
		if err := yaml.Unmarshal([]byte(b), &doc); err != nil || len(doc.Plugins) == 0 {
			t.Fatalf("example %q: %v", b, err)
		}
		for _, p := range doc.Plugins {
			if p.Plugin != Name {
				continue
			}
			cfg, _ := yaml.Marshal(&p.Config)
			f, err := filtertest.Build(filtertest.Env(t), Name, string(cfg))
			if err != nil {
				t.Errorf("example %s: %v", p.Name, err)
				continue
			}
			// Every example must run on an authenticated request.
			r := filtertest.NewRequest("GET", "/orders?debug=1", "203.0.113.7")
			r.Ctx.Claims = fakeClaims{"sub": "u-42", "email": "a@example.com", "roles": "admin"}
			r.Ctx.Consumer = &filters.Consumer{ID: "c-1", Username: "alice", CustomID: "acme", Tier: "gold"}
			if v := r.Run(f); v != filters.Continue {
				t.Errorf("example %s: verdict %v", p.Name, v)
			}
		}
	}
}
