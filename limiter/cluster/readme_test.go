package cluster

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEConfig decodes the cluster sections of README.md (with the
// secret file replaced by a secret), so the docs cannot drift.
func TestREADMEConfig(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	secret := regexp.MustCompile(`(?m)^(\s+)secret_file: .*$`)
	n := 0
	for _, b := range strings.Split(string(data), "```yaml\n")[1:] {
		b = b[:strings.Index(b, "```")]
		if !strings.HasPrefix(b, "cluster:") {
			continue
		}
		b = secret.ReplaceAllString(b, "${1}secret: "+testSecret)
		b = strings.SplitN(b, "\nplugins:", 2)[0]
		if _, err := decode(t, "README.md", b); err != nil {
			t.Errorf("example:\n%s\n%v", b, err)
		}
		n++
	}
	if n < 2 {
		t.Fatalf("found %d cluster examples", n)
	}
}
