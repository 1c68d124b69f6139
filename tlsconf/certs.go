package tlsconf

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// LoadPair loads and checks one certificate chain + key: the key must match,
// the leaf must be valid at now, an RSA key must have at least 2048 bits.
func LoadPair(cf CertFiles, now time.Time) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(cf.CertFile, cf.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %s: %v", cf.CertFile, err)
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls: certificate %s: %v", cf.CertFile, err)
		}
		c.Leaf = leaf
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("tls: certificate %s expired on %s", cf.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("tls: certificate %s is not valid before %s", cf.CertFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if k, ok := leaf.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		return nil, fmt.Errorf("tls: certificate %s has a %d-bit RSA key (want >= 2048)", cf.CertFile, k.N.BitLen())
	}
	if len(certNames(leaf)) == 0 {
		return nil, fmt.Errorf("tls: certificate %s names no host (no SAN, no CN)", cf.CertFile)
	}
	return &c, nil
}

// LoadCAPool reads a PEM CA bundle.
func LoadCAPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: %v", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("tls: %s holds no PEM certificate", file)
	}
	return p, nil
}

func certNames(leaf *x509.Certificate) []string {
	names := make([]string, 0, len(leaf.DNSNames)+len(leaf.IPAddresses))
	for _, n := range leaf.DNSNames {
		names = append(names, strings.ToLower(strings.TrimSuffix(n, ".")))
	}
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = append(names, strings.ToLower(leaf.Subject.CommonName))
	}
	return names
}

// certSet is an immutable SNI table.
type certSet struct {
	exact    map[string][]*tls.Certificate
	wildcard map[string][]*tls.Certificate // "example.com" for *.example.com
	def      *tls.Certificate
	all      []*tls.Certificate
}

// buildSet makes the SNI table from the slots' certificates (all
// non-nil once Update succeeded).
func buildSet(slots []slot) *certSet {
	s := &certSet{exact: map[string][]*tls.Certificate{}, wildcard: map[string][]*tls.Certificate{}}
	for _, sl := range slots {
		c := sl.cert
		if c == nil {
			continue
		}
		s.all = append(s.all, c)
		if sl.files.Default || s.def == nil {
			s.def = c
		}
		for _, n := range certNames(c.Leaf) {
			if rest, ok := strings.CutPrefix(n, "*."); ok {
				s.wildcard[rest] = append(s.wildcard[rest], c)
			} else {
				s.exact[n] = append(s.exact[n], c)
			}
		}
	}
	return s
}

// serving records the pairs (cert file, key file) that running Managers
// serve a good certificate from, so that Check, on a config reload, does
// not refuse a pair that is bad now but keeps its last good certificate.
var serving sync.Map // [2]string -> *tls.Certificate

func serve(s slot) {
	if s.cert != nil {
		serving.Store([2]string{s.files.CertFile, s.files.KeyFile}, s.cert)
	}
}

func unserve(s slot) {
	if s.cert != nil {
		serving.CompareAndDelete([2]string{s.files.CertFile, s.files.KeyFile}, s.cert)
	}
}

// isServed reports whether a running Manager serves a good certificate
// from cf's files.
func isServed(cf CertFiles) bool {
	_, ok := serving.Load([2]string{cf.CertFile, cf.KeyFile})
	return ok
}

// lookup returns the certificates for an SNI name (lower case, no trailing
// dot): exact match first, then a wildcard one label deep.
func (s *certSet) lookup(name string) []*tls.Certificate {
	if s == nil {
		return nil
	}
	if cs, ok := s.exact[name]; ok {
		return cs
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if cs, ok := s.wildcard[name[i+1:]]; ok {
			return cs
		}
	}
	return nil
}

// pick chooses among certificates for one name (e.g. ECDSA and RSA) the
// first the client supports.
func pick(hello *tls.ClientHelloInfo, cs []*tls.Certificate) *tls.Certificate {
	if len(cs) == 1 {
		return cs[0]
	}
	for _, c := range cs {
		if hello.SupportsCertificate(c) == nil {
			return c
		}
	}
	return cs[0]
}

// normName lower-cases an SNI name and drops a trailing dot, without
// allocating when it is already canonical.
func normName(n string) string {
	n = strings.TrimSuffix(n, ".")
	for i := 0; i < len(n); i++ {
		if c := n[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(n)
		}
	}
	return n
}
