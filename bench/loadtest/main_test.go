package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/edgeguard/edgeguard/filters/all"
	"github.com/edgeguard/edgeguard/proxy"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// TestConfig: loadtest's own config is valid and none of its routes is rate
// limited (the load would measure the limiter).
func TestConfig(t *testing.T) {
	t.Setenv("EDGEGUARD_LISTEN", "127.0.0.1:1")
	t.Setenv("EDGEGUARD_ADMIN_LISTEN", "127.0.0.1:2")
	t.Setenv("EDGEGUARD_DATA_DIR", t.TempDir())
	t.Setenv("EDGEGUARD_DEMO_UPSTREAM", "127.0.0.1:3")
	var cfg *config.Config
	err := proxy.Check(func() (*config.Config, *confnode.Errors) {
		var errs *confnode.Errors
		cfg, errs = config.Parse("config.yaml", Config)
		return cfg, errs
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Plugins {
		if p.Plugin == "rate-limiting" {
			t.Errorf("plugin %q is a rate limit", p.Name)
		}
	}
	if len(cfg.GlobalPlugins) > 0 {
		t.Errorf("global plugins: %v", cfg.GlobalPlugins)
	}
}

func TestSuccessRatio(t *testing.T) {
	codes := map[string]int{"200": 90, "204": 5, "429": 3, "0": 2}
	if got := successRatio(codes, 100); got != 0.95 {
		t.Errorf("successRatio = %v, want 0.95", got)
	}
	if got := successRatio(nil, 0); got != 0 {
		t.Errorf("no requests: %v", got)
	}
	if got, want := statusCodes(codes), "200: 90, 204: 5, 429: 3, 0: 2"; got != want {
		t.Errorf("statusCodes = %q, want %q", got, want)
	}
}

// TestMinSuccess: a target answering 429 fails the run.
func TestMinSuccess(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	if code := run([]string{"-target", srv.URL, "-rate", "50", "-duration", "200ms"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "429: ") || !strings.Contains(errb.String(), "2xx") {
		t.Errorf("output:\n%s%s", out.String(), errb.String())
	}
	if code := run([]string{"-target", srv.URL, "-rate", "50", "-duration", "200ms", "-min-success", "0"}, &out, &errb); code != 0 {
		t.Fatalf("-min-success 0: exit %d", code)
	}
}

// TestLoadtest builds edgeguard and runs a short load against it as `make
// loadtest` does: every answer is a 2xx.
func TestLoadtest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "edgeguard")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/edgeguard/edgeguard/cmd/edgeguard").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-bin", bin, "-rate", "200", "-duration", "1s"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !regexp.MustCompile(`status codes: 200: \d+\n`).MatchString(out.String()) {
		t.Errorf("not all 200:\n%s", out.String())
	}
}
