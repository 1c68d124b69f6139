package tlstest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Pebble is a running Let's Encrypt test server (Debian package `pebble`)
// with pebble-challtestsrv as its DNS, answering 127.0.0.1 for every name,
// so its validation authority really connects to the ports given.
type Pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// CAFile trusts pebble's own HTTPS (not the certificates it issues).
	CAFile string
	mgmt   string
	pool   *x509.CertPool
}

// PebbleOptions: the ports pebble's VA dials for http-01 and tls-alpn-01
// on 127.0.0.1. AlwaysValid skips validation (PEBBLE_VA_ALWAYS_VALID=1).
type PebbleOptions struct {
	HTTPPort, TLSPort int
	AlwaysValid       bool
}

// StartPebble starts pebble and pebble-challtestsrv on loopback ports and
// stops them when the test ends. It skips the test when pebble is not
// installed (`apt-get install -y pebble`).
func StartPebble(t testing.TB, o PebbleOptions) *Pebble {
	t.Helper()
	pebbleBin, err := exec.LookPath("pebble")
	if err != nil {
		t.Skip("pebble is not installed (Debian: apt-get install -y pebble); ACME test skipped")
	}
	chall, err := exec.LookPath("pebble-challtestsrv")
	if err != nil {
		t.Skip("pebble-challtestsrv is not installed (Debian package pebble); ACME test skipped")
	}
	dir := t.TempDir()
	ca := NewCA(t, "pebble wfe CA")
	wfe := ca.Issue(t, dir, "wfe", Options{}, "127.0.0.1", "localhost")
	dns := freeUDP(t)
	listen, mgmt := FreePort(t), FreePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": fmt.Sprintf("127.0.0.1:%d", listen), "managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate": wfe.CertFile, "privateKey": wfe.KeyFile, "httpPort": o.HTTPPort, "tlsPort": o.TLSPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
	}}
	data, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	os.WriteFile(cfgFile, data, 0o600)

	cs := exec.Command(chall, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", fmt.Sprintf("127.0.0.1:%d", dns),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-management", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	start(t, cs, filepath.Join(dir, "challtestsrv.log"))
	p := exec.Command(pebbleBin, "-config", cfgFile, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dns))
	p.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	if o.AlwaysValid {
		p.Env = append(p.Env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	start(t, p, filepath.Join(dir, "pebble.log"))
	pb := &Pebble{DirectoryURL: fmt.Sprintf("https://127.0.0.1:%d/dir", listen), CAFile: ca.File,
		mgmt: fmt.Sprintf("https://127.0.0.1:%d", mgmt), pool: ca.Pool}
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := pb.client().Get(pb.DirectoryURL)
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "pebble.log"))
			t.Fatalf("pebble did not start: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pb
}

func (p *Pebble) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
}

// Roots returns the pool of the CA pebble issues from (fetched from its
// management interface; it changes every time pebble starts).
func (p *Pebble) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, path := range []string{"/roots/0", "/intermediates/0"} {
		r, err := p.client().Get(p.mgmt + path)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if path == "/roots/0" && !pool.AppendCertsFromPEM(data) {
			t.Fatalf("pebble root: %s", data)
		}
	}
	return pool
}

func start(t testing.TB, cmd *exec.Cmd, logFile string) {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logFile)
			t.Logf("%s:\n%s", filepath.Base(logFile), data)
		}
	})
}

// FreePort returns a TCP port free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(port)
	return n
}

func freeUDP(t testing.TB) int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
