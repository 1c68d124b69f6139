package jose

import (
	"crypto"
	"crypto/sha256"
	"crypto/sha512"

	"github.com/cristalhq/jwt/v4"
)

// Alg is a JWS signature algorithm (RFC 7518 §3, RFC 8037). The zero value
// is no algorithm: "none" and every unknown name map to it and nothing
// verifies with it.
type Alg uint8

// Supported algorithms.
const (
	AlgUnknown Alg = iota
	HS256
	HS384
	HS512
	RS256
	RS384
	RS512
	PS256
	PS384
	PS512
	ES256
	ES384
	ES512
	EdDSA
	numAlgs
)

// Names are cristalhq/jwt's, so tokens built with it in tests and the
// algorithms named in config use one spelling.
var algNames = [numAlgs]string{
	AlgUnknown: "",
	HS256:      string(jwt.HS256),
	HS384:      string(jwt.HS384),
	HS512:      string(jwt.HS512),
	RS256:      string(jwt.RS256),
	RS384:      string(jwt.RS384),
	RS512:      string(jwt.RS512),
	PS256:      string(jwt.PS256),
	PS384:      string(jwt.PS384),
	PS512:      string(jwt.PS512),
	ES256:      string(jwt.ES256),
	ES384:      string(jwt.ES384),
	ES512:      string(jwt.ES512),
	EdDSA:      string(jwt.EdDSA),
}

// String returns the JWS name of a ("HS256"), or "unknown".
func (a Alg) String() string {
	if a == AlgUnknown || a >= numAlgs {
		return "unknown"
	}
	return algNames[a]
}

// ParseAlg returns the algorithm with JWS name s. Names are case-sensitive
// (RFC 7515 §4.1.1): "none", "hs256" and "NONE" are all unknown.
func ParseAlg(s string) (Alg, bool) {
	for a := HS256; a < numAlgs; a++ {
		if algNames[a] == s {
			return a, true
		}
	}
	return AlgUnknown, false
}

// algFromRaw maps a raw JSON string (quotes included) to an algorithm.
func algFromRaw(raw []byte) Alg {
	for a := HS256; a < numAlgs; a++ {
		if StringEqual(raw, algNames[a]) {
			return a
		}
	}
	return AlgUnknown
}

// Symmetric reports whether a is an HMAC algorithm.
func (a Alg) Symmetric() bool { return a >= HS256 && a <= HS512 }

func (a Alg) isRSA() bool   { return a >= RS256 && a <= PS512 }
func (a Alg) isPSS() bool   { return a >= PS256 && a <= PS512 }
func (a Alg) isECDSA() bool { return a >= ES256 && a <= ES512 }

func (a Alg) hash() crypto.Hash {
	switch a {
	case HS256, RS256, PS256, ES256:
		return crypto.SHA256
	case HS384, RS384, PS384, ES384:
		return crypto.SHA384
	case HS512, RS512, PS512, ES512:
		return crypto.SHA512
	}
	return 0
}

// digest hashes msg with a's hash into buf and returns the digest; it does
// not allocate.
func (a Alg) digest(buf *[64]byte, msg []byte) []byte {
	switch a.hash() {
	case crypto.SHA256:
		*(*[32]byte)(buf[:32]) = sha256.Sum256(msg)
		return buf[:32]
	case crypto.SHA384:
		*(*[48]byte)(buf[:48]) = sha512.Sum384(msg)
		return buf[:48]
	case crypto.SHA512:
		*buf = sha512.Sum512(msg)
		return buf[:64]
	}
	return nil
}
