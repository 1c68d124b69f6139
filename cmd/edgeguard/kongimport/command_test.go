package kongimport

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Command(args, &o, &e)
	return code, o.String(), e.String()
}

func TestCommand(t *testing.T) {
	article, _ := filepath.Glob("testdata/article/*.yaml")

	// Partial without --allow-partial: exit 1, nothing written, report on stderr.
	code, out, errOut := runCmd(append([]string{"kong"}, article...)...)
	if code != 1 || out != "" || !strings.Contains(errOut, "not translated (3):") || !strings.Contains(errOut, "08-tls-certificate.yaml:8:3: Certificate api-tls: spec.issuerRef") {
		t.Fatalf("partial: code %d\nstdout %q\nstderr %s", code, out, errOut)
	}

	// --allow-partial writes the config; flags may follow the files.
	dir := t.TempDir()
	outFile := filepath.Join(dir, "edgeguard.yaml")
	args := append([]string{"kong"}, article...)
	args = append(args, "--allow-partial", "-o", outFile, "--target", "api=127.0.0.1:9000")
	code, out, errOut = runCmd(args...)
	if code != 0 || out != "" {
		t.Fatalf("allow-partial: code %d\n%s", code, errOut)
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(outFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("output mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(string(data), "127.0.0.1:9000") || len(Validate(data)) != 0 {
		t.Errorf("output:\n%s\nproblems: %v", data, Validate(data))
	}

	// A complete translation exits 0 and prints to stdout.
	code, out, errOut = runCmd("kong", "testdata/kongyml/kong.yml")
	if code != 0 || !strings.HasPrefix(out, "# Generated") || strings.Contains(errOut, "not translated") {
		t.Fatalf("kong.yml: code %d\n%s", code, errOut)
	}

	// Usage errors: exit 2.
	for _, bad := range [][]string{
		{},
		{"nginx", "x.yaml"},
		{"kong"},
		{"kong", "testdata/does-not-exist.yaml"},
		{"kong", "--target", "api", "testdata/kongyml/kong.yml"},
		{"kong", "--target", "nope=1.2.3.4:5", "testdata/kongyml/kong.yml"},
		{"kong", "--bogus", "testdata/kongyml/kong.yml"},
	} {
		if code, _, e := runCmd(bad...); code != 2 {
			t.Errorf("%q: code %d, want 2 (%s)", bad, code, e)
		}
	}
}
