package filtertest

import (
	"os"
	"strings"
	"testing"
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
