package jose

import (
	"testing"

	cjwt "github.com/cristalhq/jwt/v4"

	"github.com/edgeguard/edgeguard/filters/jwt/jwttest"
)

var benchPayload = map[string]any{"iss": "https://idp.example/realms/main", "sub": "6f1c2a9e-2d4b-4b8e-9f3a-1c2d3e4f5a6b",
	"aud": []string{"api"}, "exp": 4102444800, "iat": 1700000000, "scope": "openid profile email",
	"realm_access": map[string]any{"roles": []string{"admin", "user"}}, "email": "user@example.com"}

// BenchmarkParse is the strict split, decode and header check alone.
func BenchmarkParse(b *testing.B) {
	tok := []byte(jwttest.Shared().Sign("RS256", "k1", benchPayload))
	buf := make([]byte, 0, 1024)
	var t Token
	b.SetBytes(int64(len(tok)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Parse(&t, tok, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is Parse plus the signature check, per algorithm, with
// cristalhq/jwt's Parse (which verifies too) as the reference.
func BenchmarkVerify(b *testing.B) {
	kk := jwttest.Shared()
	for _, name := range []string{"HS256", "RS256", "PS256", "ES256", "EdDSA"} {
		alg, _ := ParseAlg(name)
		var key *Key
		var cv cjwt.Verifier
		if alg.Symmetric() {
			key = must(NewHMACKey(alg, kk.Secret))
			cv = must(cjwt.NewVerifierHS(cjwt.Algorithm(name), kk.Secret))
		} else {
			key = must(NewPublicKey(alg, kk.Public(name)))
			switch name {
			case "RS256":
				cv = must(cjwt.NewVerifierRS(cjwt.RS256, key.rsa))
			case "PS256":
				cv = must(cjwt.NewVerifierPS(cjwt.PS256, key.rsa))
			case "ES256":
				cv = must(cjwt.NewVerifierES(cjwt.ES256, key.ec))
			case "EdDSA":
				cv = must(cjwt.NewVerifierEdDSA(key.ed))
			}
		}
		tok := []byte(kk.Sign(name, "k1", benchPayload))
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			var t Token
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = Parse(&t, tok, buf); err == nil {
					err = key.Verify(&t)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"-cristalhq", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cjwt.Parse(tok, cv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
