package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/tlsconf/tlstest"
)

// fixture: a CA, certificates for a.example.com (ECDSA + RSA),
// *.wild.example.com and a default, and a listener serving them.
type fixture struct {
	ca   *tlstest.CA
	dir  string
	a    *tlstest.Leaf
	aRSA *tlstest.Leaf
	wild *tlstest.Leaf
	def  *tlstest.Leaf
	m    *Manager
	addr string
}

func newFixture(t testing.TB, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{ca: tlstest.NewCA(t, "test CA"), dir: t.TempDir()}
	f.a = f.ca.Issue(t, f.dir, "a", tlstest.Options{}, "a.example.com")
	f.aRSA = f.ca.Issue(t, f.dir, "a-rsa", tlstest.Options{Key: tlstest.RSA}, "a.example.com")
	f.wild = f.ca.Issue(t, f.dir, "wild", tlstest.Options{}, "*.wild.example.com")
	f.def = f.ca.Issue(t, f.dir, "def", tlstest.Options{}, "default.example.com", "127.0.0.1")
	cfg := Config{Certificates: []CertFiles{
		{CertFile: f.a.CertFile, KeyFile: f.a.KeyFile},
		{CertFile: f.aRSA.CertFile, KeyFile: f.aRSA.KeyFile},
		{CertFile: f.wild.CertFile, KeyFile: f.wild.KeyFile},
		{CertFile: f.def.CertFile, KeyFile: f.def.KeyFile, Default: true},
	}, ReloadInterval: 100 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(cfg, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	t.Cleanup(m.Close)
	f.addr = serveTLS(t, m.Listener())
	return f
}

// serveTLS accepts TLS connections, completes the handshake, writes the
// verified client subject (or "-") and closes.
func serveTLS(t testing.TB, cfg *tls.Config) string { return serveTLSOn(t, "127.0.0.1:0", cfg) }

func serveTLSOn(t testing.TB, addr string, cfg *tls.Config) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tln := tls.NewListener(ln, cfg)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				tc := c.(*tls.Conn)
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				if err := tc.Handshake(); err != nil {
					if testing.Verbose() {
						t.Logf("server handshake: %v", err)
					}
					return
				}
				cs := tc.ConnectionState()
				s := ClientSubject(&cs)
				if s == "" {
					s = "-"
				}
				if _, err := io.WriteString(tc, s+"\n"); err != nil && testing.Verbose() {
					t.Logf("server write: %v", err)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dial handshakes and reads the server's line; it returns the state and
// the line.
func dial(addr string, c *tls.Config) (tls.ConnectionState, string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
	if err != nil {
		return tls.ConnectionState{}, "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if n == 0 && err != nil {
		return conn.ConnectionState(), "", err
	}
	return conn.ConnectionState(), strings.TrimSpace(string(buf[:n])), nil
}

func (f *fixture) client(sni string) *tls.Config {
	return &tls.Config{RootCAs: f.ca.Pool, ServerName: sni, NextProtos: []string{"http/1.1"}}
}

func TestVersions(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name     string
		min, max uint16
		ok       bool
	}{
		{"tls1.3", tls.VersionTLS13, tls.VersionTLS13, true},
		{"tls1.2", tls.VersionTLS12, tls.VersionTLS12, true},
		{"tls1.1", tls.VersionTLS10, tls.VersionTLS11, false},
		{"tls1.0", tls.VersionTLS10, tls.VersionTLS10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.client("a.example.com")
			c.MinVersion, c.MaxVersion = tc.min, tc.max
			st, _, err := dial(f.addr, c)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if st.Version != tc.max {
					t.Fatalf("version %x, want %x", st.Version, tc.max)
				}
				if st.NegotiatedProtocol != "http/1.1" {
					t.Fatalf("ALPN %q", st.NegotiatedProtocol)
				}
			} else if err == nil {
				t.Fatal("handshake succeeded")
			}
		})
	}
}

func TestMinVersion13(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MinVersion = "TLSv1.3" })
	c := f.client("a.example.com")
	c.MaxVersion = tls.VersionTLS12
	if _, _, err := dial(f.addr, c); err == nil {
		t.Fatal("TLS 1.2 accepted with min_version 1.3")
	}
}

func TestWeakSuitesRefused(t *testing.T) {
	f := newFixture(t, nil)
	for _, id := range []uint16{
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256,         // no forward secrecy
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,      // CBC
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, // CBC
		tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA,
	} {
		c := f.client("a.example.com")
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{id}
		if _, _, err := dial(f.addr, c); err == nil {
			t.Errorf("%s accepted", tls.CipherSuiteName(id))
		}
	}
	// The configured list is honoured: only RSA AES128 allowed.
	g := newFixture(t, func(c *Config) { c.Ciphers = "ECDHE-RSA-AES128-GCM-SHA256" })
	c := g.client("a.example.com")
	c.MaxVersion = tls.VersionTLS12
	c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	st, _, err := dial(g.addr, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.CipherSuite != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("suite %s", tls.CipherSuiteName(st.CipherSuite))
	}
	if _, ok := st.PeerCertificates[0].PublicKey.(interface{ Size() int }); !ok {
		t.Fatal("an RSA suite must be answered with the RSA certificate")
	}
}

func TestSNI(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct{ sni, want string }{
		{"a.example.com", "a.example.com"},
		{"A.Example.COM", "a.example.com"},
		{"x.wild.example.com", "*.wild.example.com"},
		{"y.x.wild.example.com", "default.example.com"}, // a wildcard is one label deep
		{"wild.example.com", "default.example.com"},
		{"unknown.test", "default.example.com"},
	} {
		c := f.client(tc.sni)
		c.InsecureSkipVerify = true // the default certificate does not match every name
		st, _, err := dial(f.addr, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.sni, err)
		}
		if got := st.PeerCertificates[0].DNSNames[0]; got != tc.want {
			t.Errorf("SNI %s: served %s, want %s", tc.sni, got, tc.want)
		}
	}
	// No SNI (an IP address): the default, which verifies for 127.0.0.1.
	if _, _, err := dial(f.addr, &tls.Config{RootCAs: f.ca.Pool}); err != nil {
		t.Fatalf("no SNI: %v", err)
	}
	// ECDSA and RSA certificates for one name: an RSA-only client gets RSA.
	c := f.client("a.example.com")
	c.MaxVersion = tls.VersionTLS12
	c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	st, _, err := dial(f.addr, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.PeerCertificates[0].PublicKeyAlgorithm != x509.RSA {
		t.Fatalf("got %v", st.PeerCertificates[0].PublicKeyAlgorithm)
	}
	st, _, err = dial(f.addr, f.client("a.example.com"))
	if err != nil || st.PeerCertificates[0].PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("modern client should get ECDSA: %v", err)
	}
}

func TestNoDefaultUnknownNameFails(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	dir := t.TempDir()
	l := ca.Issue(t, dir, "only", tlstest.Options{}, "only.test")
	m, err := New(Config{Certificates: []CertFiles{{CertFile: l.CertFile, KeyFile: l.KeyFile}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The first certificate is the default when none is marked.
	if leaf, err := m.Leaf("other.test"); err != nil || leaf.DNSNames[0] != "only.test" {
		t.Fatalf("%v %v", leaf, err)
	}
}

func TestReloadOnFileChange(t *testing.T) {
	f := newFixture(t, nil)
	old := f.a.Cert.SerialNumber
	renewed := f.ca.Issue(t, t.TempDir(), "a2", tlstest.Options{}, "a.example.com")
	renewed.WriteTo(t, f.a.CertFile, f.a.KeyFile)
	waitServed(t, f, "a.example.com", renewed.Cert.SerialNumber.String())

	// A broken certificate is refused; the renewed one keeps serving.
	if err := os.WriteFile(f.a.CertFile, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, refused := f.m.Reloads(); refused > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bad certificate not noticed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitServed(t, f, "a.example.com", renewed.Cert.SerialNumber.String())
	if err := f.m.Reload(); err == nil {
		t.Fatal("explicit Reload accepted a broken certificate")
	}
	// A key that does not match is refused too.
	other := f.ca.Issue(t, t.TempDir(), "x", tlstest.Options{}, "a.example.com")
	os.WriteFile(f.a.CertFile, renewed.CertPEM, 0o600)
	os.WriteFile(f.a.KeyFile, other.KeyPEM, 0o600)
	if err := f.m.Reload(); err == nil || !strings.Contains(err.Error(), "private key does not match") {
		t.Fatalf("mismatched key: %v", err)
	}
	// An expired one is refused.
	exp := f.ca.Issue(t, t.TempDir(), "exp", tlstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}, "a.example.com")
	exp.WriteTo(t, f.a.CertFile, f.a.KeyFile)
	if err := f.m.Reload(); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
	waitServed(t, f, "a.example.com", renewed.Cert.SerialNumber.String())
	_ = old
	// Explicit reload picks up a good one at once.
	third := f.ca.Issue(t, t.TempDir(), "a3", tlstest.Options{}, "a.example.com")
	third.WriteTo(t, f.a.CertFile, f.a.KeyFile)
	if err := f.m.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dial(f.addr, f.client("a.example.com")); err != nil {
		t.Fatal(err)
	}
	if leaf, _ := f.m.Leaf("a.example.com"); leaf.SerialNumber.Cmp(third.Cert.SerialNumber) != 0 {
		t.Fatal("explicit reload did not install the new certificate")
	}
}

func waitServed(t *testing.T, f *fixture, sni, serial string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		st, _, err := dial(f.addr, f.client(sni))
		if err == nil && st.PeerCertificates[0].SerialNumber.String() == serial {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serial %s not served (err %v)", serial, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestUpdateRefusesBadConfig(t *testing.T) {
	f := newFixture(t, nil)
	cfg := *f.m.Config()
	cfg.Certificates = append([]CertFiles{{CertFile: filepath.Join(f.dir, "missing.pem"), KeyFile: f.a.KeyFile}}, cfg.Certificates...)
	if err := f.m.Update(cfg); err == nil {
		t.Fatal("missing file accepted")
	}
	if _, _, err := dial(f.addr, f.client("a.example.com")); err != nil {
		t.Fatal(err)
	}
	// A valid update changes the protocol settings for new handshakes.
	cfg = *f.m.Config()
	cfg.MinVersion = "1.3"
	if err := f.m.Update(cfg); err != nil {
		t.Fatal(err)
	}
	c := f.client("a.example.com")
	c.MaxVersion = tls.VersionTLS12
	if _, _, err := dial(f.addr, c); err == nil {
		t.Fatal("update to min_version 1.3 not applied")
	}
}

func TestSessionResumptionAndRotation(t *testing.T) {
	f := newFixture(t, nil)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		c := f.client("a.example.com")
		c.MaxVersion = v
		c.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		if _, _, err := dial(f.addr, c); err != nil {
			t.Fatal(err)
		}
		st, _, err := dial(f.addr, c)
		if err != nil || !st.DidResume {
			t.Fatalf("v%x: not resumed (%v)", v, err)
		}
		f.m.RotateTicketKeys() // older keys still decrypt
		if st, _, _ = dial(f.addr, c); !st.DidResume {
			t.Fatalf("v%x: not resumed after one rotation", v)
		}
		f.m.RotateTicketKeys()
		f.m.RotateTicketKeys()
		f.m.RotateTicketKeys()
		if st, _, _ = dial(f.addr, c); st.DidResume {
			t.Fatalf("v%x: resumed with a retired key", v)
		}
	}
}

func TestMTLS(t *testing.T) {
	clientCA := tlstest.NewCA(t, "client CA")
	other := tlstest.NewCA(t, "other CA")
	dir := t.TempDir()
	good := clientCA.Issue(t, dir, "alice", tlstest.Options{Client: true}, "alice")
	bad := other.Issue(t, dir, "mallory", tlstest.Options{Client: true}, "mallory")
	load := func(l *tlstest.Leaf) []tls.Certificate {
		c, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{c}
	}
	for _, mode := range []string{"require", "optional"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.ClientCAFile = clientCA.File; c.ClientAuth = mode })
			c := f.client("a.example.com")
			c.Certificates = load(good)
			_, line, err := dial(f.addr, c)
			if err != nil || line != "CN=alice,O=edgeguard test" {
				t.Fatalf("good client: %q %v", line, err)
			}
			c = f.client("a.example.com")
			badCert := load(bad)
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &badCert[0], nil }
			if _, _, err := dial(f.addr, c); err == nil {
				t.Fatal("certificate from another CA accepted")
			}
			_, line, err = dial(f.addr, f.client("a.example.com"))
			if mode == "require" && err == nil {
				t.Fatal("no client certificate accepted")
			}
			if mode == "optional" && (err != nil || line != "-") {
				t.Fatalf("optional without certificate: %q %v", line, err)
			}
		})
	}
}

func TestUpstreamConfig(t *testing.T) {
	f := newFixture(t, nil)
	u, err := UpstreamConfig(UpstreamTLS{CAFile: f.ca.File}, "a.example.com:443")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dial(f.addr, u); err != nil {
		t.Fatal(err)
	}
	// Without the CA bundle (system roots) the test CA is not trusted.
	u, _ = UpstreamConfig(UpstreamTLS{}, "a.example.com:443")
	if _, _, err := dial(f.addr, u); err == nil {
		t.Fatal("untrusted upstream accepted")
	}
	// The name verified is the target's host: a mismatch fails.
	u, _ = UpstreamConfig(UpstreamTLS{CAFile: f.ca.File}, "b.example.org:443")
	if _, _, err := dial(f.addr, u); err == nil {
		t.Fatal("wrong name accepted")
	}
	if _, err := UpstreamConfig(UpstreamTLS{CertFile: f.a.CertFile}, "x:1"); err == nil {
		t.Fatal("cert without key accepted")
	}
	// Client certificate to an mTLS upstream.
	clientCA := tlstest.NewCA(t, "client CA")
	cl := clientCA.Issue(t, t.TempDir(), "gw", tlstest.Options{Client: true}, "gateway")
	g := newFixture(t, func(c *Config) { c.ClientCAFile = clientCA.File })
	u, err = UpstreamConfig(UpstreamTLS{CAFile: g.ca.File, CertFile: cl.CertFile, KeyFile: cl.KeyFile, ServerName: "a.example.com"}, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, line, err := dial(g.addr, u); err != nil || line != "CN=gateway,O=edgeguard test" {
		t.Fatalf("%q %v", line, err)
	}
}

// One bad pair never holds back the others: an expired wildcard stays
// refused (its previous certificate keeps serving) while a renewed
// certificate for another name is installed, by the watcher, Reload,
// Update and Check.
func TestBadPairIsolated(t *testing.T) {
	f := newFixture(t, nil)
	wildSerial := f.wild.Cert.SerialNumber.String()
	exp := f.ca.Issue(t, t.TempDir(), "exp", tlstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}, "*.wild.example.com")
	exp.WriteTo(t, f.wild.CertFile, f.wild.KeyFile)
	renewed := f.ca.Issue(t, t.TempDir(), "a2", tlstest.Options{}, "a.example.com")
	renewed.WriteTo(t, f.a.CertFile, f.a.KeyFile)
	waitServed(t, f, "a.example.com", renewed.Cert.SerialNumber.String())
	waitServed(t, f, "x.wild.example.com", wildSerial)

	third := f.ca.Issue(t, t.TempDir(), "a3", tlstest.Options{}, "a.example.com")
	third.WriteTo(t, f.a.CertFile, f.a.KeyFile)
	if err := f.m.Reload(); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Reload: %v", err)
	}
	if leaf, _ := f.m.Leaf("a.example.com"); leaf.SerialNumber.Cmp(third.Cert.SerialNumber) != 0 {
		t.Fatal("Reload did not install the good pair next to the bad one")
	}
	waitServed(t, f, "x.wild.example.com", wildSerial)

	// A config reload: Check does not refuse the pair that still serves
	// its last good certificate, Update keeps that certificate.
	_, msg := check(t, "certificates:\n  - {cert_file: "+f.wild.CertFile+", key_file: "+f.wild.KeyFile+"}\n", true)
	if msg != "" {
		t.Fatalf("Check refused a pair with a last good certificate: %s", msg)
	}
	if err := f.m.Update(*f.m.Config()); err != nil {
		t.Fatal(err)
	}
	waitServed(t, f, "x.wild.example.com", wildSerial)
	// The same bad files in a new slot (no last good pair) are refused.
	_, msg = check(t, "certificates:\n  - {cert_file: "+f.wild.CertFile+", key_file: "+f.a.KeyFile+"}\n", true)
	if !strings.Contains(msg, "certificates[0]") {
		t.Fatalf("Check accepted a bad pair without a last good certificate: %q", msg)
	}
}

// A pair that is not yet valid is retried on a timer, without any file
// change, and served once valid.
func TestNotYetValidRetried(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	dir := t.TempDir()
	a := ca.Issue(t, dir, "a", tlstest.Options{}, "a.example.com")
	m, err := New(Config{Certificates: []CertFiles{{CertFile: a.CertFile, KeyFile: a.KeyFile}}, ReloadInterval: 100 * time.Millisecond},
		Options{RetryInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	early := ca.Issue(t, t.TempDir(), "early", tlstest.Options{NotBefore: time.Now().Add(2 * time.Second)}, "a.example.com")
	early.WriteTo(t, a.CertFile, a.KeyFile)
	deadline := time.Now().Add(8 * time.Second)
	for {
		leaf, err := m.Leaf("a.example.com")
		if err != nil {
			t.Fatal(err)
		}
		if leaf.SerialNumber.Cmp(early.Cert.SerialNumber) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not-yet-valid certificate never retried")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, refused := m.Reloads(); refused == 0 {
		t.Fatal("the early certificate was not refused first")
	}
}
