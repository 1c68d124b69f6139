package filters

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFiltersUseCtxURI enforces the rule documented on URI: no filter parses
// the request URI except through filters.URI (or Ctx.URI), which keeps the
// gateway's normalised path from being normalised again by fasthttp when
// the request line is rebuilt.
func TestFiltersUseCtxURI(t *testing.T) {
	direct := regexp.MustCompile(`\b(rc|RC|req|Request)\.(URI|QueryArgs|PostArgs)\(\)`)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || path == "ctx.go" {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if direct.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("filters/%s:%d parses the URI directly; use filters.URI: %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
