package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"sync"
)

// MinRSABits is the smallest RSA modulus a Key accepts (NIST SP 800-131A).
const MinRSABits = 2048

// Key is one verification key bound to exactly one algorithm: a token is
// verified with a Key only when its header names that algorithm, so the
// token can never choose how it is checked (no alg "none", no HS256 with a
// public key as the secret, no RS256 key used for PS256).
//
// A Key is immutable after construction and safe for concurrent use.
type Key struct {
	// Alg is the only algorithm this key verifies.
	Alg Alg
	// ID is the key's "kid" (from a JWK) or credential key; informational.
	ID string

	secret []byte
	macs   *sync.Pool // of hash.Hash (HMAC with secret)
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	ed     ed25519.PublicKey
}

// Errors of key construction.
var (
	ErrKeyType     = errors.New("jose: key type does not match the algorithm")
	ErrKeyTooSmall = errors.New("jose: RSA key is smaller than 2048 bits")
	ErrEmptySecret = errors.New("jose: empty HMAC secret")
	ErrNoPEM       = errors.New("jose: no PEM public key or certificate found")
)

// NewHMACKey returns a key for alg (HS256, HS384 or HS512) with a copy of
// secret. It imposes no minimum length; callers that take secrets from
// users should (RFC 7518 §3.2 asks for at least the hash size).
func NewHMACKey(alg Alg, secret []byte) (*Key, error) {
	if !alg.Symmetric() {
		return nil, fmt.Errorf("%w: %s is not an HMAC algorithm", ErrKeyType, alg)
	}
	if len(secret) == 0 {
		return nil, ErrEmptySecret
	}
	k := &Key{Alg: alg, secret: append([]byte(nil), secret...)}
	h, s := alg.hash().New, k.secret
	k.macs = &sync.Pool{New: func() any { return hmac.New(h, s) }}
	return k, nil
}

// NewPublicKey returns a key for alg with the public key pub, which must
// fit it: *rsa.PublicKey of at least MinRSABits for RS* and PS*,
// *ecdsa.PublicKey on P-256/P-384/P-521 for ES256/ES384/ES512,
// ed25519.PublicKey for EdDSA.
func NewPublicKey(alg Alg, pub crypto.PublicKey) (*Key, error) {
	k := &Key{Alg: alg}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if !alg.isRSA() {
			return nil, fmt.Errorf("%w: RSA key for %s", ErrKeyType, alg)
		}
		if p.N == nil || p.N.BitLen() < MinRSABits {
			return nil, ErrKeyTooSmall
		}
		if p.E < 3 || p.E&1 == 0 {
			return nil, fmt.Errorf("jose: invalid RSA public exponent")
		}
		k.rsa = p
	case *ecdsa.PublicKey:
		want := map[Alg]elliptic.Curve{ES256: elliptic.P256(), ES384: elliptic.P384(), ES512: elliptic.P521()}[alg]
		if want == nil || p.Curve != want {
			return nil, fmt.Errorf("%w: EC key on %s for %s", ErrKeyType, curveName(p.Curve), alg)
		}
		k.ec = p
	case ed25519.PublicKey:
		if alg != EdDSA {
			return nil, fmt.Errorf("%w: Ed25519 key for %s", ErrKeyType, alg)
		}
		if len(p) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("jose: invalid Ed25519 public key")
		}
		k.ed = append(ed25519.PublicKey(nil), p...)
	default:
		return nil, fmt.Errorf("%w: unsupported public key type %T", ErrKeyType, pub)
	}
	return k, nil
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "unknown curve"
	}
	return c.Params().Name
}

// ParsePEMKey returns a key for alg from the first PEM block of data that
// holds a public key: "PUBLIC KEY" (PKIX), "RSA PUBLIC KEY" (PKCS #1) or
// "CERTIFICATE" (its subject public key). Private keys are refused.
func ParsePEMKey(alg Alg, data []byte) (*Key, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, ErrNoPEM
		}
		var pub crypto.PublicKey
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			return nil, errors.New("jose: a private key was given where a public key is needed")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("jose: cannot parse %s: %w", block.Type, err)
		}
		return NewPublicKey(alg, pub)
	}
}

var (
	pssOpts = map[Alg]*rsa.PSSOptions{
		// RFC 7518 §3.5: the salt is as long as the hash output. cristalhq's
		// PSSSaltLengthAuto would accept any salt length (Wycheproof
		// "SaltLenChanged", tcId 281-286).
		PS256: {SaltLength: 32, Hash: crypto.SHA256},
		PS384: {SaltLength: 48, Hash: crypto.SHA384},
		PS512: {SaltLength: 64, Hash: crypto.SHA512},
	}
	ecSizes = [numAlgs]int{ES256: 32, ES384: 48, ES512: 66}
)

// Verify checks the signature of a parsed token with k. The token's header
// must name k.Alg; the signature must have the exact length the algorithm
// and key give. It returns nil only for a valid signature.
func (k *Key) Verify(t *Token) error {
	if t.Alg == AlgUnknown || t.Alg != k.Alg {
		return ErrAlgMismatch
	}
	if !k.verify(t.SigningInput, t.Sig) {
		return ErrSignature
	}
	return nil
}

func (k *Key) verify(msg, sig []byte) bool {
	a := k.Alg
	switch {
	case a.Symmetric():
		if k.macs == nil || len(sig) != a.hash().Size() {
			return false
		}
		h := k.macs.Get().(hash.Hash)
		h.Reset()
		h.Write(msg)
		var sum [64]byte
		ok := hmac.Equal(h.Sum(sum[:0]), sig)
		k.macs.Put(h)
		return ok
	case a.isRSA():
		if k.rsa == nil || len(sig) != k.rsa.Size() {
			return false
		}
		var buf [64]byte
		d := a.digest(&buf, msg)
		if a.isPSS() {
			return rsa.VerifyPSS(k.rsa, a.hash(), d, sig, pssOpts[a]) == nil
		}
		return rsa.VerifyPKCS1v15(k.rsa, a.hash(), d, sig) == nil
	case a.isECDSA():
		n := ecSizes[a]
		if k.ec == nil || len(sig) != 2*n {
			return false
		}
		var buf [64]byte
		d := a.digest(&buf, msg)
		r := new(big.Int).SetBytes(sig[:n])
		s := new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(k.ec, d, r, s)
	case a == EdDSA:
		return k.ed != nil && len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, msg, sig)
	}
	return false
}

// Equal reports whether k and o verify the same algorithm with the same key.
func (k *Key) Equal(o *Key) bool {
	if k.Alg != o.Alg {
		return false
	}
	switch {
	case k.secret != nil:
		return hmac.Equal(k.secret, o.secret)
	case k.rsa != nil:
		return o.rsa != nil && k.rsa.Equal(o.rsa)
	case k.ec != nil:
		return o.ec != nil && k.ec.Equal(o.ec)
	case k.ed != nil:
		return o.ed != nil && k.ed.Equal(o.ed)
	}
	return false
}
