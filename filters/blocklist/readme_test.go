package blocklist

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

func mdBlocks(t *testing.T, lang string) []string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, part := range strings.Split(string(data), "```"+lang+"\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		out = append(out, block)
	}
	return out
}

// TestReadmeExamples decodes the README's abuse config and loads its file
// example, so the documentation cannot drift from the code.
func TestReadmeExamples(t *testing.T) {
	yamls := mdBlocks(t, "yaml")
	if len(yamls) == 0 {
		t.Fatal("no yaml example")
	}
	for _, b := range yamls {
		root, errs := confnode.Parse("README.md", []byte(b))
		cfg, ok := DecodeAbuseConfig(root.Field("abuse"))
		if err := errs.Err(); err != nil || !ok || !cfg.Enabled {
			t.Errorf("abuse example: %v", err)
		}
		if _, err := NewDetector(cfg, &List{}, DetectorOptions{}); err != nil {
			t.Error(err)
		}
	}
	jsons := mdBlocks(t, "json")
	if len(jsons) != 1 {
		t.Fatalf("%d json examples", len(jsons))
	}
	entries, skipped, err := decodeFile([]byte(jsons[0]), time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC), 10)
	if err != nil || skipped != 0 || len(entries) != 1 || entries[0].Source != SourceAbuse {
		t.Errorf("file example: %v %d %+v", err, skipped, entries)
	}
}
