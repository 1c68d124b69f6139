package iprestrict_test

import (
	"testing"

	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/iprestrict"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// TestReadmeExamples builds every plugin instance of the README's examples,
// so the documentation cannot drift from the code.
func TestReadmeExamples(t *testing.T) {
	n := 0
	for _, block := range filtertest.YAMLBlocks(t, "README.md") {
		root, errs := confnode.Parse("README.md", []byte(block))
		plugins := root.Field("plugins")
		for i := range plugins.Len() {
			p := plugins.Index(i)
			if p.Field("plugin").Y == nil || p.Field("plugin").Y.Value != iprestrict.Name {
				continue
			}
			if _, err := iprestrict.New(p.Field("config"), filtertest.Env(t)); err != nil {
				t.Errorf("%v", err)
			}
			n++
		}
		if err := errs.Err(); err != nil {
			t.Errorf("README example:\n%s\n%v", block, err)
		}
	}
	if n < 3 {
		t.Errorf("only %d examples found", n)
	}
}
