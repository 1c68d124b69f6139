package gatewayid

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/gatewayid/verify"
)

type fakeClaims map[string]string

func (f fakeClaims) AppendClaim(dst []byte, path string) ([]byte, bool) {
	v, ok := f[path]
	if !ok {
		return dst, false
	}
	return append(dst, v...), true
}

const testSecret = "0123456789abcdef0123456789abcdef"

// writeKey writes a fresh Ed25519 private key as PKCS#8 PEM and returns its
// path and public key.
func writeKey(t testing.TB) (string, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "gateway.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, pub
}

func request() *filtertest.Request {
	r := filtertest.NewRequest("GET", "/orders/7?x=1", "203.0.113.7")
	r.RC.Request.Header.Set("X-User-ID", "u-42")
	r.Ctx.Claims = fakeClaims{"sub": "u-42", "email": "a@example.com", "roles": "admin,dev"}
	r.Ctx.Consumer = &filters.Consumer{ID: "c-1", Username: "alice", Tier: "gold"}
	return r
}

func decodePayload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("payload %s: %v", raw, err)
	}
	return m
}

func TestTokenContents(t *testing.T) {
	s, err := New(Config{Secret: testSecret, Audience: "orders", Claims: []string{"sub", "email", "roles", "absent"}},
		[]string{"X-User-ID", "X-User-Email"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s.SetClock(func() time.Time { return now })
	r := request()
	tok := string(s.AppendToken(nil, &r.Ctx))
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if string(hdr) != `{"alg":"HS256","typ":"gateway-identity+jwt"}` {
		t.Errorf("header %s", hdr)
	}
	got, _ := json.Marshal(decodePayload(t, tok))
	want := `{"aud":"orders","claims":{"email":"a@example.com","roles":"admin,dev","sub":"u-42"},` +
		`"consumer":{"id":"c-1","tier":"gold","username":"alice"},"exp":1800000030,` +
		`"hdr":{"x-anonymous-consumer":[],"x-consumer-custom-id":[],"x-consumer-id":[],"x-consumer-username":[],` +
		`"x-credential-identifier":[],"x-user-email":[],"x-user-id":["u-42"]},"htm":"GET","htu":"/orders/7","iat":1800000000,` +
		`"iss":"edgeguard","jti":"test-request-id"}`
	if string(got) != want {
		t.Errorf("payload\n got %s\nwant %s", got, want)
	}

	// No request ID, no consumer, no claims: a unique jti is made up.
	r = filtertest.NewRequest("DELETE", "/a%20b/%FF", "203.0.113.7")
	r.Ctx.RequestID = r.Ctx.RequestID[:0]
	m1 := decodePayload(t, string(s.AppendToken(nil, &r.Ctx)))
	m2 := decodePayload(t, string(s.AppendToken(nil, &r.Ctx)))
	if m1["jti"] == m2["jti"] || !strings.HasPrefix(m1["jti"].(string), "eg-") {
		t.Errorf("jti %v %v", m1["jti"], m2["jti"])
	}
	if m1["htu"] != "/a%20b/%FF" || m1["consumer"] != nil || m1["claims"] != nil {
		t.Errorf("payload %v", m1)
	}
}

func TestEdDSAKid(t *testing.T) {
	p, pub := writeKey(t)
	s, err := New(Config{PrivateKeyFile: p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Algorithm() != "EdDSA" || s.KeyID() != verify.Thumbprint(pub) || !s.PublicKey().Equal(pub) {
		t.Fatalf("alg %s kid %s", s.Algorithm(), s.KeyID())
	}
	r := request()
	tok := s.AppendToken(nil, &r.Ctx)
	v, _ := verify.New(verify.Config{PublicKeys: []ed25519.PublicKey{pub}})
	if _, err := v.Verify(tok, "GET", "/orders/7", nopHeaders{}); err != nil {
		t.Fatal(err)
	}
	// Inline PEM works too; a key of another type does not.
	pemData, _ := os.ReadFile(p)
	if _, err := New(Config{PrivateKey: string(pemData)}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{PrivateKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}, nil)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "private_key" {
		t.Fatalf("err %v", err)
	}
}

func TestSecretFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(p, []byte(testSecret+"\n"), 0o600)
	s, err := New(Config{SecretFile: p, KeyID: "k1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := request()
	tok := s.AppendToken(nil, &r.Ctx)
	v, _ := verify.New(verify.Config{Secrets: [][]byte{[]byte(testSecret)}})
	if _, err := v.Verify(tok, "GET", "/orders/7", nopHeaders{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{
		{Secret: testSecret, SecretFile: p},
		{Secret: testSecret, PrivateKeyFile: p},
		{Algorithm: "EdDSA", Secret: testSecret},
		{Secret: testSecret, TTL: 1500 * time.Millisecond},
		{Secret: testSecret, Header: "X Bad"},
		{Secret: testSecret, Claims: []string{"a..b"}},
		{Secret: testSecret, Claims: []string{"sub", "sub"}},
	} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

type nopHeaders struct{}

func (nopHeaders) Values(string) []string { return nil }

func TestAppendTokenZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	p, _ := writeKey(t)
	for _, c := range []Config{{Secret: testSecret}, {PrivateKeyFile: p}} {
		s, err := New(c, []string{"X-User-ID"})
		if err != nil {
			t.Fatal(err)
		}
		r := request()
		buf := s.AppendToken(nil, &r.Ctx)
		allocs := testing.AllocsPerRun(100, func() {
			buf = s.AppendToken(buf[:0], &r.Ctx)
		})
		if allocs != 0 {
			t.Errorf("%s: AppendToken allocates %v times", s.Algorithm(), allocs)
		}
	}
}
