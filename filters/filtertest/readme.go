package filtertest

import (
	"os"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// YAMLBlocks returns the ```yaml code blocks of a Markdown file, for tests
// that build every README example so the documentation cannot drift.
func YAMLBlocks(tb testing.TB, path string) []string {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, part := range strings.Split(string(data), "```yaml\n")[1:] {
		block, _, ok := strings.Cut(part, "```")
		if !ok {
			tb.Fatalf("%s: unterminated yaml block", path)
		}
		out = append(out, block)
	}
	return out
}

// ReadmeExamples builds every instance of plugin name found in the ```yaml
// blocks of the Markdown file at path (under `plugins:`), so the
// documentation cannot drift from the code. It fails the test when a block
// does not parse, an instance does not build, or fewer than min instances
// were found.
func ReadmeExamples(t *testing.T, path, name string, min int) {
	t.Helper()
	plug, ok := filters.Lookup(name)
	if !ok {
		t.Fatalf("plugin %s is not registered", name)
	}
	n := 0
	for _, block := range YAMLBlocks(t, path) {
		root, errs := confnode.Parse(path, []byte(block))
		plugins := root.Field("plugins")
		for i := range plugins.Len() {
			p := plugins.Index(i)
			if p.Field("plugin").Y == nil || p.Field("plugin").Y.Value != name {
				continue
			}
			if _, err := plug.New(p.Field("config"), Env(t)); err != nil {
				t.Errorf("%v", err)
			}
			n++
		}
		if err := errs.Err(); err != nil {
			t.Errorf("%s example:\n%s\n%v", path, block, err)
		}
	}
	if n < min {
		t.Errorf("only %d examples found", n)
	}
}
