package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/tlsconf/tlstest"
)

// TestACMEPebble obtains a certificate from pebble for real: pebble's VA
// resolves acme.test to 127.0.0.1 (pebble-challtestsrv as DNS) and
// validates tls-alpn-01 against this manager's listener.
func TestACMEPebble(t *testing.T) {
	tlsPort := tlstest.FreePort(t)
	pb := tlstest.StartPebble(t, tlstest.PebbleOptions{HTTPPort: tlstest.FreePort(t), TLSPort: tlsPort})

	ca := tlstest.NewCA(t, "static")
	dir := t.TempDir()
	static := ca.Issue(t, dir, "static", tlstest.Options{}, "static.test")
	data := t.TempDir()
	var logs syncBuffer
	m, err := New(Config{
		Certificates: []CertFiles{{CertFile: static.CertFile, KeyFile: static.KeyFile}},
		ACME:         ACME{Hosts: []string{"acme.test"}, DirectoryURL: pb.DirectoryURL, CAFile: pb.CAFile, Email: "ops@acme.test"},
	}, Options{DataDir: data, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := serveTLSOn(t, "127.0.0.1:"+strconv.Itoa(tlsPort), m.Listener())

	roots := pb.Roots(t)
	c := &tls.Config{RootCAs: roots, ServerName: "acme.test", NextProtos: []string{"http/1.1"}}
	start := time.Now()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 60 * time.Second}, "tcp", addr, c)
	if err != nil {
		t.Fatalf("handshake with an ACME certificate: %v", err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	t.Logf("issued by pebble in %v: %s, issuer %s", time.Since(start).Round(time.Millisecond), leaf.DNSNames, leaf.Issuer)
	if leaf.DNSNames[0] != "acme.test" {
		t.Fatalf("names %v", leaf.DNSNames)
	}
	if !strings.Contains(logs.String(), "acme certificate issued") {
		t.Fatalf("issuance not logged:\n%s", logs.String())
	}
	// Stored in the data directory.
	if _, err := os.Stat(filepath.Join(data, "acme", "acme.test")); err != nil {
		t.Fatalf("certificate not cached in the data dir: %v", err)
	}
	// Static names still get their own certificate; hosts off the
	// allow-list never trigger an order.
	sc := &tls.Config{RootCAs: ca.Pool, ServerName: "static.test"}
	if conn, err := tls.Dial("tcp", addr, sc); err != nil {
		t.Fatal(err)
	} else {
		conn.Close()
	}
	if leaf, _ := m.Leaf("other.test"); leaf.DNSNames[0] != "static.test" {
		t.Fatalf("a host off the allow-list got %v", leaf.DNSNames)
	}
	// A second manager on the same data dir serves the cached certificate
	// without asking pebble again.
	m2, err := New(*m.Config(), Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if leaf2, err := m2.Leaf("acme.test"); err != nil || leaf2.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("cached certificate not reused: %v", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A config reload keeps the autocert manager when the ACME settings are
// unchanged; when they change, the old manager (whose renewal timers
// autocert cannot stop) no longer reaches the CA.
func TestACMEManagerLifecycle(t *testing.T) {
	ca := tlstest.NewCA(t, "static")
	static := ca.Issue(t, t.TempDir(), "static", tlstest.Options{}, "static.test")
	cfg := Config{
		Certificates: []CertFiles{{CertFile: static.CertFile, KeyFile: static.KeyFile}},
		ACME:         ACME{Hosts: []string{"acme.test"}, DirectoryURL: "https://127.0.0.1:1/dir"},
	}
	m, err := New(cfg, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	first := m.acme.Load()
	if err := m.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if m.acme.Load() != first || first.retired.Load() {
		t.Fatal("unchanged acme settings replaced the autocert manager")
	}
	cfg.ACME.Email = "ops@acme.test"
	if err := m.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if m.acme.Load() == first {
		t.Fatal("changed acme settings kept the old manager")
	}
	if _, err := first.m.Client.Discover(context.Background()); err == nil || !strings.Contains(err.Error(), "replaced by a config reload") {
		t.Fatalf("the replaced manager still reaches the CA: %v", err)
	}
	second := m.acme.Load()
	cfg.ACME = ACME{}
	if err := m.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if !second.retired.Load() {
		t.Fatal("acme turned off: the old manager was not retired")
	}
}
