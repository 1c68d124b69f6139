package validator

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// TestReadmeExamples builds every plugin config of README.md, so the docs
// cannot drift from the code.
func TestReadmeExamples(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d yaml examples", len(blocks))
	}
	for _, blk := range blocks {
		var doc struct {
			Plugins []struct {
				Plugin string    `yaml:"plugin"`
				Config yaml.Node `yaml:"config"`
			} `yaml:"plugins"`
		}
		if err := yaml.Unmarshal([]byte(blk[1]), &doc); err != nil {
			t.Fatalf("README example: %v\n%s", err, blk[1])
		}
		for _, p := range doc.Plugins {
			if p.Plugin != Name {
				continue
			}
			cfg, err := yaml.Marshal(&p.Config)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := filtertest.Build(filtertest.Env(t), Name, string(cfg)); err != nil {
				t.Errorf("README example does not build: %v\n%s", err, strings.TrimSpace(blk[1]))
			}
		}
	}
}
