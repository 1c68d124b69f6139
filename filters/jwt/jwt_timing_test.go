package jwt

import (
	"crypto"
	"testing"
	"time"

	gjwt "github.com/golang-jwt/jwt/v5"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// benchToken is a realistic access token (~20 claims).
func benchClaims(alg string) map[string]any {
	return claims(alg, "aud", "api", "iat", testNow.Unix()-10, "jti", "0b2f7a1c-5d7e-4f0a-9e1b-3c8d6a2f4e10",
		"azp", "web-app", "scope", "openid profile email orders:read orders:write", "email", "user@example.com",
		"email_verified", true, "name", "Jane Doe", "preferred_username", "jane", "given_name", "Jane", "family_name", "Doe",
		"realm_access", map[string]any{"roles": []string{"offline_access", "uma_authorization", "admin"}},
		"sid", "7d1a3c9e-1b2f-4a5d-8e6f-0a9b8c7d6e5f", "acr", "1", "typ", "Bearer")
}

// BenchmarkFirstVerification is a token's first verification: parse,
// key selection, signature, claims, cache entry (the cache is off, so
// every iteration does the full work). Compare with BenchmarkGolangJWT.
func BenchmarkFirstVerification(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			f := build(b, testEnv(b), `token_cache: {size: 0}`)
			tok := []byte(keys.Sign(alg, "", benchClaims(alg)))
			r := filtertest.NewRequest("GET", "/api", "203.0.113.7")
			now := testNow.Unix()
			b.SetBytes(int64(len(tok)))
			b.ReportAllocs()
			for b.Loop() {
				if e, _, _ := f.verify(&r.Ctx, tok, now); e == nil {
					b.Fatal("rejected")
				}
			}
		})
	}
}

// BenchmarkGolangJWT verifies the same tokens with github.com/golang-jwt/jwt/v5
// (parse, signature, exp/nbf/iss checks), the baseline for the ratio in the
// README.
func BenchmarkGolangJWT(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			tok := keys.Sign(alg, "", benchClaims(alg))
			var key any = keys.Secret
			if alg != "HS256" {
				key = keys.Public(alg)
				if alg == "EdDSA" {
					key = key.(crypto.PublicKey)
				}
			}
			p := gjwt.NewParser(gjwt.WithValidMethods([]string{alg}), gjwt.WithIssuer("iss-"+alg),
				gjwt.WithLeeway(30*time.Second), gjwt.WithTimeFunc(func() time.Time { return testNow }))
			keyFunc := func(*gjwt.Token) (any, error) { return key, nil }
			b.SetBytes(int64(len(tok)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Parse(tok, keyFunc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCacheHit is the cache lookup of a verified token plus the
// re-check of its times: the part that replaces verification on a hit.
func BenchmarkCacheHit(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			f := build(b, testEnv(b), `{}`)
			tok := []byte(keys.Sign(alg, "", benchClaims(alg)))
			r := filtertest.NewRequest("GET", "/api", "203.0.113.7")
			if e, _, _ := f.verify(&r.Ctx, tok, testNow.Unix()); e == nil {
				b.Fatal("rejected")
			}
			f.cache.c.Wait()
			now := testNow.Unix()
			b.ReportAllocs()
			for b.Loop() {
				e := f.cache.get(tok)
				if e == nil || !f.stillValid(e, now) {
					b.Fatal("miss")
				}
			}
		})
	}
}

// BenchmarkAccess is the whole plugin path of a request (strip identity
// headers, find the token, cache lookup, set Ctx and upstream headers) on
// a cache hit, and for comparison a rejection and an anonymous request.
func BenchmarkAccess(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256"} {
		b.Run("hit-"+alg, func(b *testing.B) {
			f := build(b, testEnv(b), `{}`)
			r := filtertest.NewRequest("GET", "/api/orders?page=2", "203.0.113.7")
			r.RC.Request.Header.Set("Authorization", "Bearer "+keys.Sign(alg, "", benchClaims(alg)))
			r.RC.Request.Header.Set("User-Agent", "bench/1.0")
			r.RC.Request.Header.Set("Accept", "application/json")
			if r.Run(f) != filters.Continue {
				b.Fatal("rejected")
			}
			f.cache.c.Wait()
			b.ReportAllocs()
			for b.Loop() {
				r.Reset()
				if r.Run(f) != filters.Continue {
					b.Fatal("rejected")
				}
			}
		})
	}
	b.Run("hit-RS256-parallel", func(b *testing.B) {
		f := build(b, testEnv(b), `{}`)
		tok := "Bearer " + keys.Sign("RS256", "", benchClaims("RS256"))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := filtertest.NewRequest("GET", "/api", "203.0.113.7")
			r.RC.Request.Header.Set("Authorization", tok)
			for pb.Next() {
				r.Reset()
				if r.Run(f) != filters.Continue {
					b.Fatal("rejected")
				}
			}
		})
	})
	b.Run("reject-bad-token", func(b *testing.B) {
		f := build(b, testEnv(b), `{}`)
		r := filtertest.NewRequest("GET", "/api", "203.0.113.7")
		r.RC.Request.Header.Set("Authorization", "Bearer eyJhbGciOiJub25lIn0.e30.")
		b.ReportAllocs()
		for b.Loop() {
			r.Reset()
			r.Run(f)
		}
	})
	b.Run("anonymous", func(b *testing.B) {
		f := build(b, testEnv(b), `anonymous: anon`)
		r := filtertest.NewRequest("GET", "/api", "203.0.113.7")
		b.ReportAllocs()
		for b.Loop() {
			r.Reset()
			r.Run(f)
		}
	})
}

// BenchmarkAppendClaim reads claims of a verified token the way
// request-transformer templates do.
func BenchmarkAppendClaim(b *testing.B) {
	f := build(b, testEnv(b), `{}`)
	r := filtertest.NewRequest("GET", "/api", "203.0.113.7")
	e, _, _ := f.verify(&r.Ctx, []byte(keys.Sign("HS256", "", benchClaims("HS256"))), testNow.Unix())
	for _, path := range []string{"sub", "email", "realm_access.roles"} {
		b.Run(path, func(b *testing.B) {
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = e.AppendClaim(buf[:0], path)
			}
		})
	}
}
