// Package jose parses and verifies compact JSON Web Signatures (RFC 7515)
// for the jwt filter: a strict token parser, keys bound to one algorithm
// (from secrets, PEM or JWK), signature verification, and a small JSON
// scanner for lazy, allocation-free claim lookups.
//
// # Algorithms
//
// HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA
// (Ed25519). A Key verifies exactly one algorithm and a token is checked
// only when its header names it: the token never picks the algorithm.
//
// # Why the signature check is not cristalhq/jwt's Verify
//
// The project's JWT library is github.com/cristalhq/jwt/v4 (its algorithm
// names are used here and the tests build tokens with its signers), but its
// Verifier only accepts a *jwt.Token made by its own parser, and that parser
// and verifier fail the Wycheproof JWS vectors in four ways that matter at a
// gateway (TestCristalhqDefects shows each one):
//
//   - it requires the token to start with "eyJ", so the valid tcId 376 (a
//     header with a space after "{") is rejected;
//   - it decodes base64 leniently (CR/LF skipped, non-zero trailing bits
//     accepted), so one signature has several token spellings (tcId 374/375);
//   - its PS256/384/512 verifier uses rsa.PSSSaltLengthAuto, accepting any
//     salt length where RFC 7518 §3.5 fixes it to the hash size (tcId 281);
//   - it ignores "crit", which RFC 7515 §4.1.11 says must be understood.
//
// So this package splits and decodes the token itself and verifies with the
// standard library primitives the library would have called (crypto/hmac,
// crypto/rsa, crypto/ecdsa, crypto/ed25519): about forty lines, no crypto
// of its own.
//
// # Concurrency and memory
//
// Keys are immutable and safe for concurrent use. Parse and the JSON
// functions keep no state and do not allocate beyond the buffers they are
// given; the slices they return point into their inputs.
package jose
