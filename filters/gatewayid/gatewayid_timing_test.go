package gatewayid

import (
	"crypto/ed25519"
	"testing"

	"github.com/edgeguard/edgeguard/filters/gatewayid/verify"
)

// BenchmarkAppendToken is the gateway's per-request cost of the identity
// token (signing included).
func BenchmarkAppendToken(b *testing.B) {
	p, _ := writeKey(b)
	for _, c := range []struct {
		name string
		cfg  Config
	}{{"HS256", Config{Secret: testSecret, Claims: []string{"sub", "email", "roles"}}}, {"EdDSA", Config{PrivateKeyFile: p, Claims: []string{"sub", "email", "roles"}}}} {
		b.Run(c.name, func(b *testing.B) {
			s, err := New(c.cfg, []string{"X-User-ID", "X-User-Email", "X-User-Roles"})
			if err != nil {
				b.Fatal(err)
			}
			r := request()
			buf := s.AppendToken(nil, &r.Ctx)
			b.ReportAllocs()
			for b.Loop() {
				buf = s.AppendToken(buf[:0], &r.Ctx)
			}
			b.ReportMetric(float64(len(buf)), "token-bytes")
		})
	}
}

// BenchmarkVerify is the backend's cost per request (package verify).
func BenchmarkVerify(b *testing.B) {
	p, pub := writeKey(b)
	for _, c := range []struct {
		name string
		cfg  Config
		vc   verify.Config
	}{
		{"HS256", Config{Secret: testSecret}, verify.Config{Secrets: [][]byte{[]byte(testSecret)}}},
		{"EdDSA", Config{PrivateKeyFile: p}, verify.Config{PublicKeys: []ed25519.PublicKey{pub}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, _ := New(c.cfg, []string{"X-User-ID"})
			v, _ := verify.New(c.vc)
			r := request()
			tok := s.AppendToken(nil, &r.Ctx)
			h := hdrs{"x-user-id": {"u-42"}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok, "GET", "/orders/7", h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type hdrs map[string][]string

func (h hdrs) Values(name string) []string { return h[name] }
