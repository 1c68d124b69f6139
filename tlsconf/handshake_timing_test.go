package tlsconf

import (
	"crypto/tls"
	"os"
	"testing"

	"github.com/edgeguard/edgeguard/tlsconf/tlstest"
)

// Handshake benchmarks: one op is a new loopback TCP connection, a complete
// handshake (client and server run on the same machine, so the op counts
// both sides' CPU) and one short read. Handshakes/s = 1e9 / ns/op.
func benchHandshake(b *testing.B, key tlstest.KeyType, version uint16, resume bool) {
	ca := tlstest.NewCA(b, "bench CA")
	dir := b.TempDir()
	l := ca.Issue(b, dir, "srv", tlstest.Options{Key: key}, "bench.test")
	m, err := New(Config{Certificates: []CertFiles{{CertFile: l.CertFile, KeyFile: l.KeyFile}}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	addr := serveTLS(b, m.Listener())
	c := &tls.Config{RootCAs: ca.Pool, ServerName: "bench.test", MinVersion: version, MaxVersion: version}
	if os.Getenv("BENCH_X25519") != "" {
		c.CurvePreferences = []tls.CurveID{tls.X25519}
	}
	if key == tlstest.RSA && version == tls.VersionTLS12 {
		c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	}
	if resume {
		c.ClientSessionCache = tls.NewLRUClientSessionCache(8)
		if _, _, err := dial(addr, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, _, err := dial(addr, c)
		if err != nil {
			b.Fatal(err)
		}
		if st.DidResume != resume {
			b.Fatalf("resumed=%v", st.DidResume)
		}
	}
}

func BenchmarkHandshakeECDSAP256TLS13(b *testing.B) {
	benchHandshake(b, tlstest.ECDSA, tls.VersionTLS13, false)
}
func BenchmarkHandshakeRSA2048TLS13(b *testing.B) {
	benchHandshake(b, tlstest.RSA, tls.VersionTLS13, false)
}
func BenchmarkHandshakeECDSAP256TLS12(b *testing.B) {
	benchHandshake(b, tlstest.ECDSA, tls.VersionTLS12, false)
}
func BenchmarkHandshakeRSA2048TLS12(b *testing.B) {
	benchHandshake(b, tlstest.RSA, tls.VersionTLS12, false)
}
func BenchmarkHandshakeResumedTLS13(b *testing.B) {
	benchHandshake(b, tlstest.ECDSA, tls.VersionTLS13, true)
}
func BenchmarkHandshakeResumedTLS12(b *testing.B) {
	benchHandshake(b, tlstest.ECDSA, tls.VersionTLS12, true)
}

// BenchmarkGetCertificate is the SNI lookup alone (exact, wildcard,
// default).
func BenchmarkGetCertificate(b *testing.B) {
	f := newFixture(b, nil)
	hellos := []*tls.ClientHelloInfo{{ServerName: "a.example.com"}, {ServerName: "x.wild.example.com"}, {ServerName: "nope.test"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.m.getCertificate(hellos[i%3]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestGetCertificateAllocs(t *testing.T) {
	f := newFixture(t, nil)
	h := &tls.ClientHelloInfo{ServerName: "x.wild.example.com"}
	if n := testing.AllocsPerRun(100, func() { f.m.getCertificate(h) }); n != 0 {
		t.Fatalf("SNI lookup allocates %v", n)
	}
}
