package filters

import (
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// TestDecodeConfig: the checks run after a failed decode, and their
// problems at a field that failed to decode are dropped as repeats.
func TestDecodeConfig(t *testing.T) {
	type conf struct {
		Limit int    `yaml:"limit"`
		Mode  string `yaml:"mode"`
	}
	check := func(n confnode.Node, c *conf) {
		if c.Limit <= 0 {
			n.FieldErrorf("limit", "must be > 0")
		}
		if c.Mode != "a" && c.Mode != "b" {
			n.FieldErrorf("mode", "must be a or b")
		}
	}
	for _, tc := range []struct {
		yaml string
		want []string // every problem, in order
	}{
		{"limit: 1\nmode: a", nil},
		// The unknown field does not hide the value checks.
		{"limitt: 1\nmode: c", []string{
			`test.yaml:1:1: config.limitt: unknown field (did you mean "limit"?)`,
			"test.yaml:1:1: config.limit: must be > 0",
			"test.yaml:2:7: config.mode: must be a or b",
		}},
		// A value of the wrong type is reported once, the other checks run.
		{"limit: x\nmode: c", []string{
			`test.yaml:1:8: config.limit: must be a whole number in range (got "x")`,
			"test.yaml:2:7: config.mode: must be a or b",
		}},
		// The whole node of the wrong shape: one problem.
		{"[1, 2]", []string{"test.yaml:1:1: config: must be a mapping (name: value), not a list"}},
		// A duplicate key keeps its first value, which is still checked.
		{"limit: 0\nlimit: 1\nmode: a", []string{
			"test.yaml:1:8: config.limit: must be > 0",
			"test.yaml:2:1: config.limit: duplicate key (first at line 1)",
		}},
	} {
		root, errs := confnode.Parse("test.yaml", []byte(tc.yaml))
		if errs.Err() != nil {
			t.Fatal(errs)
		}
		root.Path = "config"
		var c conf
		ok := DecodeConfig(root, &c, func() { check(root, &c) })
		var got []string
		if err := errs.Err(); err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		if ok != (len(tc.want) == 0) || strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%q: ok=%v\n got %q\nwant %q", tc.yaml, ok, got, tc.want)
		}
	}
}
