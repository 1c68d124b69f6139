package botdetect

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestZZSlow(t *testing.T) {
	dir := os.Getenv("FZDIR")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		lines := strings.Split(string(b), "\n")
		s1, _ := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
		s2, _ := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "string("), ")"))
		start := time.Now()
		var lists [][]string
		for _, block := range strings.Split(s1, "\n\n") {
			lists = append(lists, strings.Split(block, "\n"))
		}
		m, err := Compile(lists)
		d1 := time.Since(start)
		if err == nil {
			for from := range lists {
				m.Match([]byte(s2), from)
			}
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Logf("%s: compile %v total %v: %q %q", e.Name(), d1, d, s1, s2)
		}
	}
}
