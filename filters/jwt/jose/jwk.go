package jose

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// JWKOptions says how keys without an "alg" are bound and which algorithms
// are acceptable.
type JWKOptions struct {
	// RSAAlg is the algorithm of an RSA JWK that has no "alg" (default
	// RS256). EC keys take theirs from the curve and OKP Ed25519 keys are
	// EdDSA; a symmetric ("oct") key without "alg" is refused.
	RSAAlg Alg
	// Allowed, when non-empty, lists the only algorithms keys may have; a
	// key bound to another algorithm is refused.
	Allowed []Alg
	// AllowSymmetric lets "oct" keys through. A JWKS published for anyone to
	// read must never hold one (every reader could forge tokens), so
	// ParseJWKSet callers leave this false.
	AllowSymmetric bool
}

// ErrJWK is wrapped by every JWK error.
var ErrJWK = errors.New("jose: unusable JWK")

func jwkErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrJWK}, args...)...)
}

// ParseJWK parses one JSON Web Key (RFC 7517) into a Key bound to one
// algorithm. The key must be meant for signatures: "use", when present, is
// "sig" and "key_ops", when present, holds "verify". An "alg", when present,
// must be a supported algorithm that fits the key type and curve. Private
// key members are refused for asymmetric keys (a verifier must only ever
// see public keys). RSA moduli must have at least MinRSABits; EC
// coordinates must have the curve's full length and name a point on it.
func ParseJWK(data []byte, opt JWKOptions) (*Key, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, jwkErr("invalid JSON: %v", err)
	}
	return jwkFromMap(m, opt)
}

// ParseJWKSet parses a JWK Set ({"keys": [...]}). Keys that cannot be used
// (other types, encryption keys, unsupported algorithms, symmetric keys
// unless allowed, bad encodings) are skipped and reported in skipped; err is
// set only when the document itself is not a JWK Set.
func ParseJWKSet(data []byte, opt JWKOptions) (keys []*Key, skipped []error, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, jwkErr("invalid JWK Set JSON: %v", err)
	}
	if doc.Keys == nil {
		return nil, nil, jwkErr(`JWK Set has no "keys" array`)
	}
	for i, raw := range doc.Keys {
		k, err := ParseJWK(raw, opt)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("keys[%d]: %w", i, err))
			continue
		}
		keys = append(keys, k)
	}
	return keys, skipped, nil
}

func jwkFromMap(m map[string]json.RawMessage, opt JWKOptions) (*Key, error) {
	str := func(name string) (string, bool, error) {
		raw, ok := m[name]
		if !ok {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", true, jwkErr("%q is not a string", name)
		}
		return s, true, nil
	}
	b64 := func(name string) ([]byte, error) {
		s, ok, err := str(name)
		if err != nil {
			return nil, err
		}
		if !ok || s == "" {
			return nil, jwkErr("missing %q", name)
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, jwkErr("%q is not unpadded base64url", name)
		}
		return b, nil
	}

	kty, _, err := str("kty")
	if err != nil {
		return nil, err
	}
	kid, _, err := str("kid")
	if err != nil {
		return nil, err
	}
	if use, ok, err := str("use"); err != nil {
		return nil, err
	} else if ok && use != "sig" {
		return nil, jwkErr("key use %q is not \"sig\"", use)
	}
	if raw, ok := m["key_ops"]; ok {
		var ops []string
		if err := json.Unmarshal(raw, &ops); err != nil {
			return nil, jwkErr(`"key_ops" is not an array of strings`)
		}
		verify := false
		for _, op := range ops {
			verify = verify || op == "verify"
		}
		if !verify {
			return nil, jwkErr(`"key_ops" does not allow "verify"`)
		}
	}
	algName, hasAlg, err := str("alg")
	if err != nil {
		return nil, err
	}
	alg := AlgUnknown
	if hasAlg {
		var ok bool
		if alg, ok = ParseAlg(algName); !ok {
			return nil, jwkErr("unsupported alg %q", algName)
		}
	}
	if kty != "oct" {
		if _, ok := m["d"]; ok {
			return nil, jwkErr("holds private key material")
		}
	}

	var k *Key
	switch kty {
	case "RSA":
		if !hasAlg {
			alg = opt.RSAAlg
			if alg == AlgUnknown {
				alg = RS256
			}
		}
		n, err := b64("n")
		if err != nil {
			return nil, err
		}
		e, err := b64("e")
		if err != nil {
			return nil, err
		}
		if len(e) > 4 || len(n) == 0 || n[0] == 0 || e[0] == 0 {
			return nil, jwkErr("invalid RSA modulus or exponent encoding")
		}
		ev := 0
		for _, c := range e {
			ev = ev<<8 | int(c)
		}
		if k, err = NewPublicKey(alg, &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}); err != nil {
			return nil, jwkErr("%v", err)
		}
	case "EC":
		crv, _, err := str("crv")
		if err != nil {
			return nil, err
		}
		var curve elliptic.Curve
		var curveAlg Alg
		switch crv {
		case "P-256":
			curve, curveAlg = elliptic.P256(), ES256
		case "P-384":
			curve, curveAlg = elliptic.P384(), ES384
		case "P-521":
			curve, curveAlg = elliptic.P521(), ES512
		default:
			return nil, jwkErr("unsupported EC curve %q", crv)
		}
		if !hasAlg {
			alg = curveAlg
		}
		if alg != curveAlg {
			return nil, jwkErr("alg %s does not fit curve %s", alg, crv)
		}
		x, err := b64("x")
		if err != nil {
			return nil, err
		}
		y, err := b64("y")
		if err != nil {
			return nil, err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, jwkErr("EC coordinates must be %d bytes", size)
		}
		point := make([]byte, 0, 1+2*size)
		point = append(append(append(point, 4), x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, jwkErr("invalid EC point: %v", err)
		}
		if k, err = NewPublicKey(alg, pub); err != nil {
			return nil, jwkErr("%v", err)
		}
	case "OKP":
		crv, _, err := str("crv")
		if err != nil {
			return nil, err
		}
		if crv != "Ed25519" {
			return nil, jwkErr("unsupported OKP curve %q", crv)
		}
		if !hasAlg {
			alg = EdDSA
		}
		x, err := b64("x")
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, jwkErr("Ed25519 key must be 32 bytes")
		}
		if k, err = NewPublicKey(alg, ed25519.PublicKey(x)); err != nil {
			return nil, jwkErr("%v", err)
		}
	case "oct":
		if !opt.AllowSymmetric {
			return nil, jwkErr("symmetric keys are not accepted from a key set")
		}
		if !hasAlg {
			return nil, jwkErr(`symmetric key without "alg"`)
		}
		secret, err := b64("k")
		if err != nil {
			return nil, err
		}
		if k, err = NewHMACKey(alg, secret); err != nil {
			return nil, jwkErr("%v", err)
		}
	default:
		return nil, jwkErr("unsupported kty %q", kty)
	}
	if len(opt.Allowed) > 0 {
		ok := false
		for _, a := range opt.Allowed {
			ok = ok || a == k.Alg
		}
		if !ok {
			return nil, jwkErr("alg %s is not allowed", k.Alg)
		}
	}
	k.ID = kid
	return k, nil
}
