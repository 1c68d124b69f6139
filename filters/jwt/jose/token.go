package jose

import (
	"encoding/base64"
	"errors"
)

// MaxTokenSize is the largest compact JWS Parse accepts.
const MaxTokenSize = 64 << 10

// Errors of Parse and Verify. They are for logs and tests; never send them
// to a client.
var (
	ErrFormat      = errors.New("jose: not a compact JWS (three base64url segments)")
	ErrTooLarge    = errors.New("jose: token too large")
	ErrHeader      = errors.New("jose: invalid JOSE header")
	ErrUnknownAlg  = errors.New("jose: unsupported or missing alg")
	ErrKid         = errors.New("jose: kid is not a string")
	ErrCrit        = errors.New("jose: unsupported critical header parameter")
	ErrTyp         = errors.New("jose: unsupported typ")
	ErrAlgMismatch = errors.New("jose: token alg does not match the key")
	ErrSignature   = errors.New("jose: invalid signature")
)

// Token is a compact JWS split and decoded by Parse. Its slices point into
// the raw token and the buffer given to Parse; they are valid as long as
// both are.
type Token struct {
	// Raw is the whole token.
	Raw []byte
	// SigningInput is the part that is signed: header "." payload, encoded.
	SigningInput []byte
	// Header is the decoded JOSE header, a JSON object without duplicate
	// names; Payload the decoded payload (any bytes at this level) and Sig
	// the decoded signature.
	Header, Payload, Sig []byte
	// Alg is the header's alg; AlgUnknown for "none" and unknown names.
	Alg Alg
	// Kid is the raw JSON string of the header's kid (quotes included), nil
	// when absent; compare it with StringEqual or decode with AppendString.
	Kid []byte
}

// b64url tells which bytes may appear in a base64url segment.
var b64url = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['_'] = true, true
	return t
}()

// strictB64 rejects padding and non-zero trailing bits (Wycheproof tcId
// 374/375: a second encoding of the same bytes must not verify); Parse
// rejects CR and LF, which encoding/base64 would skip, before decoding.
var strictB64 = base64.RawURLEncoding.Strict()

// Parse splits raw, a compact JWS (RFC 7515 §7.1), and decodes it into buf,
// which it grows when needed and returns for reuse. It checks the form
// strictly: exactly three segments of the base64url alphabet without
// padding, white space or line breaks, canonical encodings, a header that is
// a JSON object without duplicate names, whose alg is a supported
// algorithm, whose kid (if any) is a string, whose typ (if any) is JWT-like,
// and that has no crit, b64 or cty parameter (no extension is understood
// here, RFC 7515 §4.1.11; nested JWTs are not supported), and a non-empty
// signature. The header is checked before the signature's presence, so an
// unsigned `"alg":"none"` token gets ErrUnknownAlg like a signed one. The
// payload may be any bytes, even empty; JWT users check it with ValidObject.
//
// Parse never allocates beyond growing buf.
func Parse(t *Token, raw, buf []byte) ([]byte, error) {
	*t = Token{}
	if len(raw) > MaxTokenSize {
		return buf, ErrTooLarge
	}
	dot1, dot2 := -1, -1
	for i, c := range raw {
		if b64url[c] {
			continue
		}
		if c != '.' {
			return buf, ErrFormat
		}
		switch {
		case dot1 < 0:
			dot1 = i
		case dot2 < 0:
			dot2 = i
		default:
			return buf, ErrFormat
		}
	}
	if dot2 < 0 || dot1 == 0 {
		return buf, ErrFormat
	}
	h64, p64, s64 := raw[:dot1], raw[dot1+1:dot2], raw[dot2+1:]
	need := strictB64.DecodedLen(len(h64)) + strictB64.DecodedLen(len(p64)) + strictB64.DecodedLen(len(s64))
	if cap(buf) < need {
		buf = make([]byte, need)
	}
	buf = buf[:need]
	hn, err := strictB64.Decode(buf, h64)
	if err != nil {
		return buf, ErrFormat
	}
	pn, err := strictB64.Decode(buf[hn:], p64)
	if err != nil {
		return buf, ErrFormat
	}
	sn, err := strictB64.Decode(buf[hn+pn:], s64)
	if err != nil {
		return buf, ErrFormat
	}
	t.Raw = raw
	t.SigningInput = raw[:dot2]
	t.Header = buf[:hn:hn]
	t.Payload = buf[hn : hn+pn : hn+pn]
	t.Sig = buf[hn+pn : hn+pn+sn : hn+pn+sn]
	if err := t.parseHeader(); err != nil {
		return buf, err
	}
	if sn == 0 {
		return buf, ErrFormat // unsigned
	}
	return buf, nil
}

func (t *Token) parseHeader() error {
	if ValidObject(t.Header) != nil {
		return ErrHeader
	}
	var it Members
	for it.Reset(t.Header); it.Next(); {
		name := it.Name
		switch {
		case StringEqual(name, "alg"):
			if it.Kind != String {
				return ErrUnknownAlg
			}
			t.Alg = algFromRaw(it.Value)
		case StringEqual(name, "kid"):
			if it.Kind != String {
				return ErrKid
			}
			t.Kid = it.Value
		case StringEqual(name, "typ"):
			if it.Kind != String || !jwtTyp(it.Value) {
				return ErrTyp
			}
		case StringEqual(name, "crit"), StringEqual(name, "b64"), StringEqual(name, "cty"):
			return ErrCrit
		}
	}
	if t.Alg == AlgUnknown {
		return ErrUnknownAlg
	}
	return nil
}

// jwtTyp accepts the media types of a JWT (RFC 7519 §5.1) and of a JWT
// access token (RFC 9068 §2.1), case-insensitively, with or without the
// "application/" prefix.
func jwtTyp(raw []byte) bool {
	var buf [32]byte
	s := AppendString(buf[:0], raw)
	if len(s) > 12 && equalFold(s[:12], "application/") {
		s = s[12:]
	}
	return equalFold(s, "jwt") || equalFold(s, "at+jwt")
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// VerifyCompact parses raw and verifies its signature with k. It is the
// whole signature check of a compact JWS in one call (tests and tools use
// it; the jwt filter calls Parse and Key.Verify itself to reuse buffers).
func VerifyCompact(k *Key, raw []byte) (Token, error) {
	var t Token
	if _, err := Parse(&t, raw, nil); err != nil {
		return t, err
	}
	return t, k.Verify(&t)
}
