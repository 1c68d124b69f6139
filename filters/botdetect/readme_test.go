package botdetect_test

import (
	"os"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters/botdetect"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// yamlBlocks returns the ```yaml code blocks of a Markdown file.
func yamlBlocks(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, part := range strings.Split(string(data), "```yaml\n")[1:] {
		block, _, ok := strings.Cut(part, "```")
		if !ok {
			t.Fatalf("%s: unterminated yaml block", path)
		}
		out = append(out, block)
	}
	return out
}

// TestReadmeExamples builds every plugin instance of the README's examples,
// so the documentation cannot drift from the code.
func TestReadmeExamples(t *testing.T) {
	n := 0
	for _, block := range yamlBlocks(t, "README.md") {
		root, errs := confnode.Parse("README.md", []byte(block))
		plugins := root.Field("plugins")
		for i := range plugins.Len() {
			p := plugins.Index(i)
			if p.Field("plugin").Y == nil || p.Field("plugin").Y.Value != botdetect.Name {
				continue
			}
			if _, err := botdetect.New(p.Field("config"), filtertest.Env(t)); err != nil {
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
