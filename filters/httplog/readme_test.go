package httplog

import (
	"os"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// TestReadmeExamples builds every http-log instance of the README, so the
// documentation cannot drift from the code.
func TestReadmeExamples(t *testing.T) {
	t.Setenv("SIEM_TOKEN", "t0ken")
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, part := range strings.Split(string(data), "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		root, errs := confnode.Parse("README.md", []byte(block))
		plugins := root.Field("plugins")
		for i := range plugins.Len() {
			p := plugins.Index(i)
			if p.Field("plugin").Y == nil || p.Field("plugin").Y.Value != Name {
				continue
			}
			env := filtertest.Env(t)
			f, err := New(p.Field("config"), env)
			if err != nil {
				t.Error(err)
			}
			if f != nil {
				f.(*Filter).Close()
			}
			n++
		}
		if err := errs.Err(); err != nil {
			t.Errorf("README example:\n%s\n%v", block, err)
		}
	}
	if n != 3 {
		t.Errorf("found %d examples, want 3", n)
	}
}
