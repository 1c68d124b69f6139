// Package tlstest makes throwaway CAs and certificates for tests: ECDSA
// P-256 or RSA-2048 leaves for server names or client subjects, written as
// PEM files.
package tlstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// KeyType selects the leaf key.
type KeyType int

const (
	ECDSA KeyType = iota // P-256
	RSA                  // 2048 bits
)

// CA is a test certificate authority.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	// File is the CA certificate as a PEM file.
	File string
	Pool *x509.CertPool
	dir  string
}

var serial atomic.Int64

// NewCA creates a CA whose files live in t.TempDir().
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name, Organization: []string{"edgeguard test"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), dir: t.TempDir()}
	ca.File = filepath.Join(ca.dir, "ca.pem")
	write(t, ca.File, ca.CertPEM)
	ca.Pool = x509.NewCertPool()
	ca.Pool.AddCert(cert)
	return ca
}

// Leaf is an issued certificate.
type Leaf struct {
	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
	Cert              *x509.Certificate
}

// Options tune Issue.
type Options struct {
	Key       KeyType
	NotBefore time.Time
	NotAfter  time.Time
	Client    bool // client certificate (CN = names[0], no SANs)
	RSABits   int
}

// Issue signs a leaf for names (DNS names or IPs) and writes
// dir/base.pem and dir/base.key.
func (ca *CA) Issue(t testing.TB, dir, base string, o Options, names ...string) *Leaf {
	t.Helper()
	var key crypto.Signer
	switch o.Key {
	case RSA:
		bits := o.RSABits
		if bits == 0 {
			bits = 2048
		}
		key, _ = rsa.GenerateKey(rand.Reader, bits)
	default:
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(23 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: names[0], Organization: []string{"edgeguard test"}},
		NotBefore: o.NotBefore, NotAfter: o.NotAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if o.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		for _, n := range names {
			if ip := net.ParseIP(n); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, n)
			}
		}
	}
	if _, ok := key.(*rsa.PrivateKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	l := &Leaf{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), Cert: cert}
	l.CertFile, l.KeyFile = filepath.Join(dir, base+".pem"), filepath.Join(dir, base+".key")
	write(t, l.CertFile, l.CertPEM)
	write(t, l.KeyFile, l.KeyPEM)
	return l
}

// WriteTo writes the leaf's PEMs to other files (a certificate renewal
// as seen by a file watcher), via rename so readers never see half a file.
func (l *Leaf) WriteTo(t testing.TB, certFile, keyFile string) {
	t.Helper()
	atomicWrite(t, keyFile, l.KeyPEM)
	atomicWrite(t, certFile, l.CertPEM)
}

func atomicWrite(t testing.TB, file string, data []byte) {
	tmp := file + ".tmp"
	write(t, tmp, data)
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, file string, data []byte) {
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
