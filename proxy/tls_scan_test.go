package proxy

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSSLScan runs sslscan (Debian package sslscan) against the HTTPS
// listener with the default settings and fails on any weak protocol or
// cipher it reports. `make tlsscan` runs it verbosely (the summary goes to
// tlsconf/README.md). Skipped when sslscan is not installed.
func TestSSLScan(t *testing.T) {
	bin, err := exec.LookPath("sslscan")
	if err != nil {
		t.Skip("sslscan is not installed (Debian: apt-get install -y sslscan)")
	}
	if testing.Short() {
		t.Skip("short")
	}
	e := startTLSGateway(t, "")
	start := time.Now()
	out, err := exec.Command(bin, "--no-colour", "--sni-name=api.test", e.https).CombinedOutput()
	if err != nil {
		t.Fatalf("sslscan: %v\n%s", err, out)
	}
	text := string(out)
	if testing.Verbose() || os.Getenv("TLSSCAN_OUT") != "" {
		t.Logf("sslscan took %v:\n%s", time.Since(start).Round(time.Millisecond), text)
	}
	for _, p := range []string{"SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(p) + `\s+disabled`).MatchString(text) {
			t.Errorf("%s not reported disabled", p)
		}
	}
	for _, p := range []string{"TLSv1.2", "TLSv1.3"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(p) + `\s+enabled`).MatchString(text) {
			t.Errorf("%s not reported enabled", p)
		}
	}
	accepted := regexp.MustCompile(`(?m)^(Preferred|Accepted)\s+(TLSv[0-9.]+)\s+(\d+) bits\s+(\S+)`).FindAllStringSubmatch(text, -1)
	if len(accepted) == 0 {
		t.Fatalf("no accepted cipher parsed:\n%s", text)
	}
	for _, m := range accepted {
		name := m[4]
		strong := strings.HasPrefix(name, "TLS_") || (strings.HasPrefix(name, "ECDHE-") && (strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")))
		if !strong {
			t.Errorf("weak cipher accepted: %s %s", m[2], name)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.Contains(line, "vulnerable to heartbleed") && !strings.Contains(line, "not vulnerable"),
			strings.Contains(line, "Compression enabled"),
			strings.Contains(line, "Insecure session renegotiation supported"),
			strings.Contains(line, "does not support TLS Fallback SCSV"):
			t.Errorf("sslscan reports %q", line)
		}
	}
}
