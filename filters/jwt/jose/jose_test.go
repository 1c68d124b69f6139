package jose

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	cjwt "github.com/cristalhq/jwt/v4"

	"github.com/edgeguard/edgeguard/filters/jwt/jwttest"
)

func b64e(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func signHS(secret []byte, input string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var testRSA = jwttest.Shared().RSA

// TestEveryAlgorithm signs with cristalhq/jwt (jwttest) and verifies here,
// for every supported algorithm, and checks that each key refuses every
// other algorithm's token.
func TestEveryAlgorithm(t *testing.T) {
	kk := jwttest.Shared()
	keys := map[Alg]*Key{}
	tokens := map[Alg][]byte{}
	for _, name := range jwttest.Algs {
		alg, ok := ParseAlg(name)
		if !ok {
			t.Fatalf("%s unsupported", name)
		}
		var k *Key
		var err error
		if alg.Symmetric() {
			k, err = NewHMACKey(alg, kk.Secret)
		} else {
			k, err = NewPublicKey(alg, kk.Public(name))
		}
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		tok := []byte(kk.Sign(name, "k1", map[string]any{"sub": "u1"}))
		keys[alg], tokens[alg] = k, tok
		parsed, err := VerifyCompact(k, tok)
		if err != nil {
			t.Errorf("%s: good token rejected: %v", alg, err)
		}
		if !StringEqual(parsed.Kid, "k1") || string(parsed.Payload) != `{"sub":"u1"}` {
			t.Errorf("%s: kid %s payload %s", alg, parsed.Kid, parsed.Payload)
		}
	}
	for ka, k := range keys {
		for ta, tok := range tokens {
			if ka == ta {
				continue
			}
			if _, err := VerifyCompact(k, tok); !errors.Is(err, ErrAlgMismatch) {
				t.Errorf("key %s accepted or misjudged a %s token: %v", ka, ta, err)
			}
		}
	}
	// cristalhq's own PS signer uses the maximum salt length, which RFC 7518
	// §3.5 does not allow: such tokens are rejected (documented).
	maxSalt, _ := cjwt.NewBuilder(must(cjwt.NewSignerPS(cjwt.PS256, kk.RSA))).Build(map[string]any{"sub": "u1"})
	if _, err := VerifyCompact(keys[PS256], maxSalt.Bytes()); !errors.Is(err, ErrSignature) {
		t.Errorf("max-salt PS256: %v", err)
	}
	testRSA := kk.RSA
	// HS256 "signed" with the RSA public key (PEM or DER) as the secret must
	// not verify with the RSA key (the classic confusion attack).
	der, _ := x509.MarshalPKIXPublicKey(&testRSA.PublicKey)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for _, s := range [][]byte{pemBytes, der} {
		forged := signHS(s, b64e(`{"alg":"HS256"}`)+"."+b64e(`{"sub":"admin"}`))
		if _, err := VerifyCompact(keys[RS256], []byte(forged)); !errors.Is(err, ErrAlgMismatch) {
			t.Errorf("HS256 with public key as secret: %v", err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	key := must(NewHMACKey(HS256, secret))
	body := b64e(`{"sub":"x"}`)
	good := signHS(secret, b64e(`{"alg":"HS256","typ":"JWT"}`)+"."+body)
	if _, err := VerifyCompact(key, []byte(good)); err != nil {
		t.Fatal(err)
	}
	hdr := func(h string) string { return signHS(secret, b64e(h)+"."+body) }
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"alg none", b64e(`{"alg":"none"}`) + "." + body + ".", ErrUnknownAlg},
		{"signature stripped", good[:strings.LastIndexByte(good, '.')+1], ErrFormat},
		{"alg none signed", hdr(`{"alg":"none"}`), ErrUnknownAlg},
		{"alg None", hdr(`{"alg":"None"}`), ErrUnknownAlg},
		{"alg lower", hdr(`{"alg":"hs256"}`), ErrUnknownAlg},
		{"alg missing", hdr(`{"typ":"JWT"}`), ErrUnknownAlg},
		{"alg number", hdr(`{"alg":256}`), ErrUnknownAlg},
		{"alg duplicate", hdr(`{"alg":"HS256","alg":"none"}`), ErrHeader},
		{"alg duplicate escaped", hdr(`{"alg":"HS256","\u0061lg":"RS256"}`), ErrHeader},
		{"crit", hdr(`{"alg":"HS256","crit":["exp"],"exp":1}`), ErrCrit},
		{"crit empty", hdr(`{"alg":"HS256","crit":[]}`), ErrCrit},
		{"b64 false", hdr(`{"alg":"HS256","b64":false}`), ErrCrit},
		{"nested cty", hdr(`{"alg":"HS256","cty":"JWT"}`), ErrCrit},
		{"typ JWE", hdr(`{"alg":"HS256","typ":"JOSE+JSON"}`), ErrTyp},
		{"kid number", hdr(`{"alg":"HS256","kid":7}`), ErrKid},
		{"kid null", hdr(`{"alg":"HS256","kid":null}`), ErrKid},
		{"header not object", hdr(`["HS256"]`), ErrHeader},
		{"header trailing", hdr(`{"alg":"HS256"}x`), ErrHeader},
		{"header bad utf8", hdr("{\"alg\":\"HS256\",\"x\":\"\xff\"}"), ErrHeader},
		{"two segments", good[:strings.LastIndexByte(good, '.')], ErrFormat},
		{"four segments", good + ".x", ErrFormat},
		{"empty header", good[strings.IndexByte(good, '.'):], ErrFormat},
		{"padding", good + "=", ErrFormat},
		{"space", strings.Replace(good, ".", ". ", 1), ErrFormat},
		{"newline in signature", good[:len(good)-4] + "\n" + good[len(good)-4:], ErrFormat},
		{"std alphabet", strings.ReplaceAll(strings.ReplaceAll(good, "-", "+"), "_", "/") + "+", ErrFormat},
		{"len mod 4 == 1", good + "AA", ErrFormat},
		{"too large", good + strings.Repeat("A", MaxTokenSize), ErrTooLarge},
		{"tampered payload", strings.Replace(good, body, b64e(`{"sub":"y"}`), 1), ErrSignature},
		{"truncated sig", good[:len(good)-3], ErrSignature},
	}
	for _, c := range cases {
		if _, err := VerifyCompact(key, []byte(c.tok)); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// typ variants that are accepted.
	for _, typ := range []string{"JWT", "jwt", "at+jwt", "application/at+JWT", "application/jwt"} {
		tok := hdr(`{"alg":"HS256","typ":"` + typ + `"}`)
		if _, err := VerifyCompact(key, []byte(tok)); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
}

func TestKeyConstruction(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := NewPublicKey(RS256, &small.PublicKey); !errors.Is(err, ErrKeyTooSmall) {
		t.Errorf("1024-bit RSA: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, a := range []Alg{ES384, ES512, RS256, HS256, EdDSA} {
		if _, err := NewPublicKey(a, &ec.PublicKey); err == nil {
			t.Errorf("P-256 key accepted for %s", a)
		}
	}
	if _, err := NewPublicKey(HS256, &testRSA.PublicKey); err == nil {
		t.Error("RSA key accepted for HS256")
	}
	if _, err := NewHMACKey(RS256, []byte("x")); err == nil {
		t.Error("HMAC key for RS256")
	}
	if _, err := NewHMACKey(HS256, nil); !errors.Is(err, ErrEmptySecret) {
		t.Error("empty secret")
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testRSA)})
	if _, err := ParsePEMKey(RS256, priv); err == nil {
		t.Error("private PEM accepted")
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&testRSA.PublicKey)})
	if _, err := ParsePEMKey(PS256, pkcs1); err != nil {
		t.Errorf("PKCS#1 public key: %v", err)
	}
	if _, err := ParsePEMKey(RS256, []byte("not pem")); !errors.Is(err, ErrNoPEM) {
		t.Errorf("garbage: %v", err)
	}
}

func TestJWKRules(t *testing.T) {
	n := base64.RawURLEncoding.EncodeToString(testRSA.N.Bytes())
	rsaJWK := func(extra string) string { return `{"kty":"RSA","n":"` + n + `","e":"AQAB"` + extra + `}` }
	good := []struct {
		jwk  string
		opt  JWKOptions
		want Alg
	}{
		{rsaJWK(``), JWKOptions{}, RS256},
		{rsaJWK(`,"alg":"PS512","use":"sig","key_ops":["verify"]`), JWKOptions{}, PS512},
		{rsaJWK(``), JWKOptions{RSAAlg: PS256}, PS256},
	}
	for _, g := range good {
		k, err := ParseJWK([]byte(g.jwk), g.opt)
		if err != nil || k.Alg != g.want {
			t.Errorf("%s: %v %v", g.jwk, k, err)
		}
	}
	bad := []struct{ name, jwk string }{
		{"use enc", rsaJWK(`,"use":"enc"`)},
		{"key_ops sign only", rsaJWK(`,"key_ops":["sign"]`)},
		{"alg for other type", rsaJWK(`,"alg":"ES256"`)},
		{"alg none", rsaJWK(`,"alg":"none"`)},
		{"alg HS256 on RSA", rsaJWK(`,"alg":"HS256"`)},
		{"private", rsaJWK(`,"d":"AQAB"`)},
		{"exponent 1", `{"kty":"RSA","n":"` + n + `","e":"AQ"}`},
		{"padded", `{"kty":"RSA","n":"` + n + `","e":"AQAB="}`},
		{"oct", `{"kty":"oct","alg":"HS256","k":"c2VjcmV0"}`},
		{"Ed448", `{"kty":"OKP","crv":"Ed448","x":"AAAA"}`},
		{"unknown kty", `{"kty":"XYZ"}`},
		{"not json", `{`},
	}
	for _, b := range bad {
		if _, err := ParseJWK([]byte(b.jwk), JWKOptions{}); !errors.Is(err, ErrJWK) {
			t.Errorf("%s: %v", b.name, err)
		}
	}
	if _, err := ParseJWK([]byte(rsaJWK(`,"alg":"PS256"`)), JWKOptions{Allowed: []Alg{RS256}}); err == nil {
		t.Error("alg outside Allowed accepted")
	}
	// A point that is not on the curve.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	x := ec.X.FillBytes(make([]byte, 32))
	y := ec.Y.FillBytes(make([]byte, 32))
	y[31] ^= 1
	off := `{"kty":"EC","crv":"P-256","x":"` + base64.RawURLEncoding.EncodeToString(x) + `","y":"` + base64.RawURLEncoding.EncodeToString(y) + `"}`
	if _, err := ParseJWK([]byte(off), JWKOptions{}); err == nil {
		t.Error("off-curve point accepted")
	}
	keys, skipped, err := ParseJWKSet([]byte(`{"keys":[`+rsaJWK(`,"kid":"a"`)+`,`+rsaJWK(`,"use":"enc"`)+`,{"kty":"oct","k":"AA"}]}`), JWKOptions{})
	if err != nil || len(keys) != 1 || keys[0].ID != "a" || len(skipped) != 2 {
		t.Errorf("set: %d keys %v skipped %v", len(keys), skipped, err)
	}
	if _, _, err := ParseJWKSet([]byte(`{"nokeys":1}`), JWKOptions{}); err == nil {
		t.Error("document without keys accepted")
	}
}

func TestJSONValidObject(t *testing.T) {
	ok := []string{
		`{}`, ` { "a" : 1 } `, `{"a":[1,2,{"b":null}],"c":"\u00e9\ud83d\ude00","d":-0.5e+10,"e":true,"f":false}`,
		`{"a":{"x":1},"b":{"x":2}}`, `{"a\"b":1,"a\\b":2}`,
	}
	for _, s := range ok {
		if err := ValidObject([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
		if !json.Valid([]byte(s)) {
			t.Errorf("%s: encoding/json disagrees", s)
		}
	}
	bad := []struct {
		s    string
		want error
	}{
		{`[]`, ErrJSONNotObject}, {`"x"`, ErrJSONNotObject}, {``, ErrJSONSyntax}, {`{`, ErrJSONSyntax},
		{`{"a":1,}`, ErrJSONSyntax}, {`{"a":01}`, ErrJSONSyntax}, {`{"a":1.}`, ErrJSONSyntax},
		{`{"a":"\x"}`, ErrJSONSyntax}, {"{\"a\":\"\x01\"}", ErrJSONSyntax}, {`{"a":tru}`, ErrJSONSyntax},
		{`{"a":1}{}`, ErrJSONSyntax}, {`{a:1}`, ErrJSONSyntax}, {`{"a":"\u12"}`, ErrJSONSyntax},
		{`{"a":1,"a":2}`, ErrJSONDuplicate}, {`{"a":1,"\u0061":2}`, ErrJSONDuplicate},
		{`{"o":{"a":1,"a":2}}`, ErrJSONDuplicate},
		{`{"a":` + strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1) + `}`, ErrJSONDepth},
		{"{\"a\":\"\xc3\x28\"}", ErrJSONSyntax},
	}
	for _, b := range bad {
		if err := ValidObject([]byte(b.s)); !errors.Is(err, b.want) {
			t.Errorf("%q: got %v, want %v", b.s, err, b.want)
		}
	}
}

func TestLookupAndAppendText(t *testing.T) {
	obj := []byte(`{"sub":"u-1","roles":["admin","dev",null,7],"realm_access":{"roles":["a","b"],"lvl":3},` +
		`"https://example.com/tier":"gold","a.b":"dotted","a":{"b":"nested"},"esc":"x\"y\u00e9\\n","flag":true,` +
		`"num":1.5e3,"nil":null,"obj":{"k":[1,[2,3]]},"deep":{"x":{"y":{"z":"zz"}}}}`)
	if err := ValidObject(obj); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"sub": "u-1", "roles": "admin,dev,7", "realm_access.roles": "a,b", "realm_access.lvl": "3",
		"https://example.com/tier": "gold", "a.b": "dotted", "esc": "x\"y\u00e9\\n", "flag": "true",
		"num": "1.5e3", "obj": `{"k":[1,[2,3]]}`, "obj.k": "1,[2,3]", "deep.x.y.z": "zz",
	}
	for path, want := range cases {
		v, k := Lookup(obj, path)
		if k == Invalid {
			t.Errorf("%s: not found", path)
			continue
		}
		if got := string(AppendText(nil, v, k)); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	for _, path := range []string{"missing", "sub.x", "realm_access.missing", "", ".", "deep..x"} {
		if _, k := Lookup(obj, path); k != Invalid {
			t.Errorf("%s: found", path)
		}
	}
	if _, k := Lookup(obj, "nil"); k != Null {
		t.Errorf("nil: kind %v", k)
	}
	if !StringEqual([]byte(`"\u0069ss"`), "iss") || StringEqual([]byte(`"iss"`), "is") || StringEqual([]byte(`"is"`), "iss") {
		t.Error("StringEqual")
	}
	allocs := testing.AllocsPerRun(100, func() {
		v, k := Lookup(obj, "realm_access.roles")
		_ = AppendText(make([]byte, 0, 0), v, k)[:0]
	})
	buf := make([]byte, 0, 64)
	allocs = testing.AllocsPerRun(100, func() {
		v, k := Lookup(obj, "realm_access.roles")
		buf = AppendText(buf[:0], v, k)
	})
	if allocs != 0 {
		t.Errorf("Lookup+AppendText allocates %v times", allocs)
	}
}
