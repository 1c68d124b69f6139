// Package jwttest makes keys, signed tokens, PEM keys and JWK Sets for tests
// of the jwt filter and of anything behind it (the proxy's end-to-end tests
// included). Tokens are built with github.com/cristalhq/jwt/v4; PS256/384/512
// are signed with the salt length RFC 7518 §3.5 requires (the hash size),
// which cristalhq's own PS signer does not use.
//
// Everything here is for tests: keys are generated at random per process.
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"

	"github.com/cristalhq/jwt/v4"
)

// Algs lists every algorithm the jwt filter supports.
var Algs = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Keys holds one private key of each kind.
type Keys struct {
	Secret []byte // 64 bytes, enough for HS512
	RSA    *rsa.PrivateKey
	EC256  *ecdsa.PrivateKey
	EC384  *ecdsa.PrivateKey
	EC521  *ecdsa.PrivateKey
	Ed     ed25519.PrivateKey
}

// NewKeys generates a fresh set of keys (RSA 2048).
func NewKeys() *Keys {
	k := &Keys{Secret: make([]byte, 64)}
	rand.Read(k.Secret)
	var err error
	if k.RSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	k.EC256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k.EC384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	k.EC521, _ = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, k.Ed, _ = ed25519.GenerateKey(rand.Reader)
	return k
}

var (
	sharedOnce sync.Once
	shared     *Keys
)

// Shared returns one Keys per process (RSA generation is slow).
func Shared() *Keys {
	sharedOnce.Do(func() { shared = NewKeys() })
	return shared
}

// Signer returns a cristalhq/jwt signer for alg.
func (k *Keys) Signer(alg string) jwt.Signer {
	a := jwt.Algorithm(alg)
	var s jwt.Signer
	var err error
	switch alg {
	case "HS256", "HS384", "HS512":
		s, err = jwt.NewSignerHS(a, k.Secret)
	case "RS256", "RS384", "RS512":
		s, err = jwt.NewSignerRS(a, k.RSA)
	case "PS256":
		return pssSigner{a, crypto.SHA256, k.RSA}
	case "PS384":
		return pssSigner{a, crypto.SHA384, k.RSA}
	case "PS512":
		return pssSigner{a, crypto.SHA512, k.RSA}
	case "ES256":
		s, err = jwt.NewSignerES(a, k.EC256)
	case "ES384":
		s, err = jwt.NewSignerES(a, k.EC384)
	case "ES512":
		s, err = jwt.NewSignerES(a, k.EC521)
	case "EdDSA":
		s, err = jwt.NewSignerEdDSA(k.Ed)
	default:
		panic("jwttest: unknown alg " + alg)
	}
	if err != nil {
		panic(err)
	}
	return s
}

type pssSigner struct {
	alg  jwt.Algorithm
	hash crypto.Hash
	key  *rsa.PrivateKey
}

func (s pssSigner) Algorithm() jwt.Algorithm { return s.alg }
func (s pssSigner) SignSize() int            { return s.key.Size() }
func (s pssSigner) Sign(payload []byte) ([]byte, error) {
	h := s.hash.New()
	h.Write(payload)
	return rsa.SignPSS(rand.Reader, s.key, s.hash, h.Sum(nil), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
}

// Sign returns a compact token for claims signed with alg; kid is put in the
// header when non-empty.
func (k *Keys) Sign(alg, kid string, claims any) string {
	var opts []jwt.BuilderOption
	if kid != "" {
		opts = append(opts, jwt.WithKeyID(kid))
	}
	tok, err := jwt.NewBuilder(k.Signer(alg), opts...).Build(claims)
	if err != nil {
		panic(err)
	}
	return tok.String()
}

// SignRaw signs an arbitrary header and payload (both JSON text) with alg's
// key, whatever the header says: for forging attack tokens.
func (k *Keys) SignRaw(alg, headerJSON, payloadJSON string) string {
	in := B64(headerJSON) + "." + B64(payloadJSON)
	sig, err := k.Signer(alg).Sign([]byte(in))
	if err != nil {
		panic(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// B64 is base64url without padding.
func B64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// Public returns the public key for alg (nil for HS*).
func (k *Keys) Public(alg string) crypto.PublicKey {
	switch {
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		return &k.RSA.PublicKey
	case alg == "ES256":
		return &k.EC256.PublicKey
	case alg == "ES384":
		return &k.EC384.PublicKey
	case alg == "ES512":
		return &k.EC521.PublicKey
	case alg == "EdDSA":
		return k.Ed.Public()
	}
	return nil
}

// PublicPEM returns alg's public key as a PKIX PEM block.
func (k *Keys) PublicPEM(alg string) string {
	der, err := x509.MarshalPKIXPublicKey(k.Public(alg))
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// JWK returns alg's public key as a JWK with kid and "alg" (when withAlg).
func (k *Keys) JWK(alg, kid string, withAlg bool) map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]any{"use": "sig"}
	if kid != "" {
		m["kid"] = kid
	}
	if withAlg {
		m["alg"] = alg
	}
	switch pub := k.Public(alg).(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(pub.N.Bytes()), "AQAB"
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		m["kty"], m["crv"] = "EC", pub.Curve.Params().Name
		m["x"], m["y"] = b64(pub.X.FillBytes(make([]byte, size))), b64(pub.Y.FillBytes(make([]byte, size)))
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(pub)
	default:
		panic(fmt.Sprintf("jwttest: no public JWK for %s", alg))
	}
	return m
}

// JWKS renders a JWK Set document.
func JWKS(keys ...map[string]any) []byte {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}
