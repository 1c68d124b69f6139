package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

// certWithSubject makes a self-signed certificate with a raw subject.
func certWithSubject(t *testing.T, rdns pkix.RDNSequence) *x509.Certificate {
	t.Helper()
	raw, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), RawSubject: raw,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientSubject(t *testing.T) {
	atv := func(oid asn1.ObjectIdentifier, v any) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid, Value: v}
	}
	cn, o, ou := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 10}, asn1.ObjectIdentifier{2, 5, 4, 11}
	for _, tc := range []struct {
		name string
		rdns pkix.RDNSequence
		want string
	}{
		{"plain", pkix.RDNSequence{{atv(o, "Example")}, {atv(cn, "alice")}}, "CN=alice,O=Example"},
		{"two CNs", pkix.RDNSequence{{atv(cn, "admin")}, {atv(cn, "guest")}}, "CN=guest,CN=admin"},
		{"controls", pkix.RDNSequence{{atv(cn, "a\x00b\x1bc\x7fd")}}, `CN=a\00b\1Bc\7Fd`},
		{"bidi and UTF-8", pkix.RDNSequence{{atv(cn, "evil\u202Etxt.exe")}, {atv(o, "Zürich")}}, `O=Z\C3\BCrich,CN=evil\E2\80\AEtxt.exe`},
		{"specials", pkix.RDNSequence{{atv(cn, ` #a,b+c;d"e<f>g\h `)}}, `CN=\ #a\,b\+c\;d\"e\<f\>g\\h\ `},
		{"leading hash", pkix.RDNSequence{{atv(cn, "#x")}}, `CN=\#x`},
		{"multi-valued", pkix.RDNSequence{{atv(ou, "ops"), atv(cn, "bob")}}, "CN=bob+OU=ops"},
		{"unknown type", pkix.RDNSequence{{atv(asn1.ObjectIdentifier{1, 2, 3}, "x")}}, "1.2.3=x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := certWithSubject(t, tc.rdns)
			got := ClientSubject(&tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c}}})
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := 0; i < len(got); i++ {
				if got[i] < 0x20 || got[i] >= 0x7f {
					t.Fatalf("byte %#x at %d", got[i], i)
				}
			}
		})
	}
	if s := ClientSubject(&tls.ConnectionState{}); s != "" {
		t.Fatalf("no certificate: %q", s)
	}
}
