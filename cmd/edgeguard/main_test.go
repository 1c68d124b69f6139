package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv("EDGEGUARD_CLI_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "edgeguard ") {
		t.Fatalf("%d %q", code, out.String())
	}
	if code := run([]string{"bogus"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown command: %d", code)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("services: [{name: a, targets: [\"127.0.0.1:9\"]}]\nroutes: [{name: r, service: a}]\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run([]string{"validate", "-c", good}, &out, &errb); code != 0 {
		t.Fatalf("good config: %d %s", code, errb.String())
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`services: [{name: a, targets: ["127.0.0.1:9"]}]
routes: [{name: r, service: a, plugins: [lim]}]
plugins:
  - name: lim
    plugin: request-size-limiting
    config: {allowed_payload_size: -1, size_unit: gigabytes, extra: 1}
listen: {http: "nope"}
`), 0o600)
	errb.Reset()
	if code := run([]string{"validate", "-c", bad}, &out, &errb); code != 1 {
		t.Fatalf("bad config: exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(bad) + `:\d+:\d+: [a-z_\[\]0-9.]+: .+`)
	for _, l := range lines {
		if !re.MatchString(l) {
			t.Errorf("not FILE:LINE:COL: field: message: %q", l)
		}
	}
	for _, want := range []string{"plugins[0].config.extra: unknown field", "listen.http: invalid address"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("missing %q in:\n%s", want, errb.String())
		}
	}
	if code := run([]string{"validate"}, &out, &errb); code != 2 {
		t.Fatalf("validate without -c: %d", code)
	}
}

// TestValidateTypeErrors: values of the wrong type, an unknown key and
// semantic problems in one file are all listed, each at its own field, and
// validate does not crash on the partly decoded config (a bad duration once
// left a service without its defaults and compiling it panicked).
func TestValidateTypeErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(`trusted_proxies: ["10.0.0.0/33"]
services:
  - {name: api, targets: ["127.0.0.1:9000"], connect_timeout: 2x, read_timeout: 60000}
  - {name: b, targets: "127.0.0.1:9001", retries: many, keepalive: [1]}
routes:
  - {name: r, paths: ["v1"], service: apx, plugins: [lim], methds: [GET]}
  - {name: r2, service: b, strip_path: maybe}
plugins:
  - {name: lim, plugin: request-size-limiting, config: {allowed_payload_size: -1}}
`), 0o600)
	var out, errb bytes.Buffer
	if code := run([]string{"validate", "-c", bad}, &out, &errb); code != 1 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := []string{
		`:1:19: trusted_proxies[0]: "10.0.0.0/33" is not an IP address or CIDR`,
		`:3:63: services[0].connect_timeout: invalid duration "2x"`,
		`:3:81: services[0].read_timeout: a duration needs a unit, such as 60000ms`,
		`:4:24: services[1].targets: must be a list, not "127.0.0.1:9001"`,
		`:4:51: services[1].retries: must be a whole number`,
		`:4:68: services[1].keepalive: must be a single value, not a list`,
		`:6:23: routes[0].paths[0]: must start with /`,
		`:6:39: routes[0].service: no service named "apx"`,
		`:6:60: routes[0].methds: unknown field (did you mean "methods"?)`,
		`:7:40: routes[1].strip_path: must be true or false (got "maybe")`,
		`:9:79: plugins[0].config.allowed_payload_size: must be > 0`,
	}
	got := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if len(got) != len(want) {
		t.Errorf("want %d problems, got %d:\n%s", len(want), len(got), errb.String())
	}
	for i, w := range want {
		if i >= len(got) || !strings.HasPrefix(got[i], bad+w) {
			t.Errorf("problem %d: want %s%s\n%s", i, bad, w, errb.String())
		}
	}

	// Only a type error: the rest of the file is decoded and compiled.
	os.WriteFile(bad, []byte("services: [{name: a, targets: [\"127.0.0.1:9\"], connect_timeout: 2x}]\nroutes: [{name: r, service: a}]\n"), 0o600)
	errb.Reset()
	if code := run([]string{"validate", "-c", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), `services[0].connect_timeout: invalid duration "2x"`) {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestQuickstart runs `edgeguard run` as a user would, follows the curl line
// it prints, and stops it with SIGTERM.
func TestQuickstart(t *testing.T) {
	listen, admin := freePort(t), freePort(t)
	cmd := exec.Command(os.Args[0], "run")
	cmd.Env = append(os.Environ(), "EDGEGUARD_CLI_MAIN=1", "EDGEGUARD_LISTEN="+listen, "EDGEGUARD_ADMIN_LISTEN="+admin, "EDGEGUARD_DATA_DIR="+t.TempDir())
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var url, token string
	deadline := time.Now().Add(10 * time.Second)
	for sc.Scan() && time.Now().Before(deadline) {
		if m := regexp.MustCompile(`curl -i (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil && url == "" {
			url = m[1]
		}
		if m := regexp.MustCompile(`TOKEN=(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			token = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if url == "" {
		t.Fatal("no curl line printed")
	}
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(body, []byte("edgeguard-demo-upstream")) {
		t.Fatalf("quickstart curl: %d %s", res.StatusCode, body)
	}
	// The demo scenarios it prints work as described.
	base := strings.TrimSuffix(url, "/v1/hello")
	req, _ := http.NewRequest("GET", base+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-User-ID", "admin")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"X-User-Id": "demo-user-42"`)) || bytes.Contains(body, []byte(`"admin"`)) {
		t.Fatalf("demo token: %d %s", res.StatusCode, body)
	}
	if res, _ := http.Get(base + "/v1/me"); res.StatusCode != 401 {
		t.Fatalf("no token: %d", res.StatusCode)
	}
	res, _ = http.Post(base+"/v1/users", "application/json", strings.NewReader(`{"name":"Ada","email":"ada@example.com","phone":"call me"}`))
	if res.StatusCode != 400 {
		t.Fatalf("schema: %d", res.StatusCode)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop on SIGTERM")
	}
}

func TestBuildVersion(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}}
	}
	for _, c := range []struct {
		ldflags string
		info    *debug.BuildInfo
		want    string
	}{
		{"v1.2.3", vcs("514d3dcd735aa71985a73f67fd03fee81672bd91", "true"), "v1.2.3"},
		{"dev", nil, "dev"},
		{"dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"dev", vcs("514d3dcd735aa71985a73f67fd03fee81672bd91", "false"), "514d3dcd735a"},
		{"dev", vcs("514d3dcd735aa71985a73f67fd03fee81672bd91", "true"), "514d3dcd735a-dirty"},
	} {
		if got := buildVersion(c.ldflags, c.info); got != c.want {
			t.Errorf("buildVersion(%q, %+v) = %q, want %q", c.ldflags, c.info, got, c.want)
		}
	}
}

// TestUsageErrors: arguments a command does not take and a -c given twice
// are refused with exit 2, not silently ignored. (run is given a missing
// file: were the arguments ignored, it would fail to load it, exit 1,
// rather than serve.)
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	good, missing := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "missing.yaml")
	os.WriteFile(good, []byte("services: [{name: a, targets: [\"127.0.0.1:9\"]}]\nroutes: [{name: r, service: a}]\n"), 0o600)
	for _, args := range [][]string{
		{"version", "extra"},
		{"validate", "-c", good, "extra"},
		{"validate", "-c", good, "-c", good},
		{"run", "-c", missing, "extra"},
		{"run", "-c", missing, "-c", missing},
		{"reload", "-c", good, "extra"},
		{"reload", "-c", good, "-c", good},
		{"reload"},
	} {
		var errb bytes.Buffer
		if code := run(args, io.Discard, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, errb.String())
		}
	}
}

// TestReload runs a gateway, changes its config file and reloads it with
// `edgeguard reload`: accepted, rejected with the gateway's errors, refused
// for a wrong token, and the gateway gone.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "edgeguard.yaml")
	listen, admin := freePort(t), freePort(t)
	const token = "reload-test-token-0123456789"
	conf := func(extra string) []byte {
		return []byte(`listen: {http: "` + listen + `"}
admin: {listen: "` + admin + `", token: "` + token + `"}
data_dir: "` + dir + `/data"
access_log: {path: "off"}
services: [{name: a, targets: ["127.0.0.1:9"]}]
routes: [{name: r, service: a` + extra + `}]
`)
	}
	os.WriteFile(file, conf(""), 0o600)
	cmd := exec.Command(os.Args[0], "run", "-c", file)
	cmd.Env = append(os.Environ(), "EDGEGUARD_CLI_MAIN=1")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(10 * time.Second); ; {
		res, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	var out, errb bytes.Buffer
	os.WriteFile(file, conf(`, paths: ["/v2"]`), 0o600)
	if code := run([]string{"reload", "-c", file}, &out, &errb); code != 0 || !strings.Contains(out.String(), "reloaded") {
		t.Fatalf("good config: exit %d\n%s%s", code, out.String(), errb.String())
	}

	// A config the gateway rejects: exit 1 with its errors. A plugin's
	// config contents pass config.Load, so the gateway itself is the judge.
	out.Reset()
	errb.Reset()
	os.WriteFile(file, append(conf(`, plugins: [lim]`),
		"plugins: [{name: lim, plugin: request-size-limiting, config: {allowed_payload_size: -1}}]\n"...), 0o600)
	if code := run([]string{"reload", "-c", file}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "422") ||
		!strings.Contains(errb.String(), `plugins[0].config.allowed_payload_size: must be > 0`) {
		t.Fatalf("rejected config: exit %d\n%s%s", code, out.String(), errb.String())
	}

	// A wrong token: 401, exit 1.
	other := filepath.Join(dir, "other.yaml")
	os.WriteFile(other, bytes.Replace(conf(""), []byte(token), []byte("another-token-0123456789"), 1), 0o600)
	errb.Reset()
	if code := run([]string{"reload", "-c", other}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "401") {
		t.Fatalf("wrong token: exit %d\n%s", code, errb.String())
	}

	// A file that does not load is reported without calling the gateway.
	errb.Reset()
	if code := run([]string{"reload", "-c", filepath.Join(dir, "missing.yaml")}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "missing.yaml") {
		t.Fatalf("missing file: exit %d\n%s", code, errb.String())
	}

	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	os.WriteFile(file, conf(""), 0o600)
	errb.Reset()
	if code := run([]string{"reload", "-c", file}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "cannot reach the admin API") {
		t.Fatalf("gateway gone: exit %d\n%s", code, errb.String())
	}
}

func TestAdminDialAddr(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8001": "127.0.0.1:8001",
		"0.0.0.0:8001":   "127.0.0.1:8001",
		":8001":          "127.0.0.1:8001",
		"[::]:8001":      "[::1]:8001",
		"10.1.2.3:8001":  "10.1.2.3:8001",
	} {
		if got, err := adminDialAddr(listen); got != want || err != nil {
			t.Errorf("%s: %q %v, want %q", listen, got, err, want)
		}
	}
	if _, err := adminDialAddr("off"); err == nil {
		t.Error("off: no error")
	}
}

// TestStdoutGoneAway: the reader of the access log on stdout (a log
// shipper's pipe) goes away; the gateway goes on serving instead of dying
// of SIGPIPE.
func TestStdoutGoneAway(t *testing.T) {
	listen, admin := freePort(t), freePort(t)
	cmd := exec.Command(os.Args[0], "run")
	cmd.Env = append(os.Environ(), "EDGEGUARD_CLI_MAIN=1", "EDGEGUARD_LISTEN="+listen, "EDGEGUARD_ADMIN_LISTEN="+admin, "EDGEGUARD_DATA_DIR="+t.TempDir())
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := "http://" + listen + "/v1/hello"
	deadline := time.Now().Add(10 * time.Second)
	for {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the gateway did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stdout.Close() // the reader is gone
	for i := 0; i < 20; i++ {
		res, err := http.Get(url)
		if err != nil {
			t.Fatalf("request %d after stdout's reader left: %v", i, err)
		}
		res.Body.Close()
		time.Sleep(20 * time.Millisecond) // the access log's writer runs in between
	}
	if cmd.ProcessState != nil {
		t.Fatalf("exited: %v", cmd.ProcessState)
	}
}
