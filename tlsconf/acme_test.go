package tlsconf

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strconv"
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
	m, err := New(Config{
		Certificates: []CertFiles{{CertFile: static.CertFile, KeyFile: static.KeyFile}},
		ACME:         ACME{Hosts: []string{"acme.test"}, DirectoryURL: pb.DirectoryURL, CAFile: pb.CAFile, Email: "ops@acme.test"},
	}, Options{DataDir: data})
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
