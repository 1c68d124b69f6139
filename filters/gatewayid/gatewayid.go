// Package gatewayid signs the identity the gateway forwards to backends.
//
// A Signer produces the X-Gateway-Identity token: a compact JWS (EdDSA or
// HS256, the gateway's own key) binding the forwarded identity (consumer,
// selected JWT claims, the identity headers the gateway set) to the request's
// method, path and a short lifetime. It is configured as the
// `gateway_identity` option of the request-transformer plugin, which strips
// any client-sent copy of the header and calls AppendToken last, after all
// its header edits. Backends check the token with package
// github.com/edgeguard/edgeguard/filters/gatewayid/verify, which also
// documents the token's members.
//
// The token is built by hand on the request path (fixed JOSE header encoded
// at load, payload appended into pooled buffers, base64url with
// AppendEncode): a JWT library's builder marshals maps with encoding/json and
// allocates several times per token. The verify side uses
// github.com/cristalhq/jwt/v4.
//
// A Signer is immutable after New and safe for concurrent use.
package gatewayid

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"golang.org/x/net/http/httpguts"
	"hash"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/gatewayid/verify"
)

// Config is the `gateway_identity` block of request-transformer.
type Config struct {
	// Header is the request header for the token (default X-Gateway-Identity).
	Header string `yaml:"header"`
	// Algorithm is EdDSA (needs private_key_file or private_key) or HS256
	// (needs secret or secret_file). Default: from the key given.
	Algorithm string `yaml:"algorithm"`
	// PrivateKeyFile is an Ed25519 private key in PEM (PKCS#8), as written
	// by `openssl genpkey -algorithm ed25519`.
	PrivateKeyFile string `yaml:"private_key_file"`
	// PrivateKey is the same PEM inline (for ${ENV} references).
	PrivateKey string `yaml:"private_key"`
	// Secret is the HS256 secret, at least 32 bytes (prefer secret_file).
	Secret string `yaml:"secret"`
	// SecretFile holds the HS256 secret; one trailing newline is ignored.
	SecretFile string `yaml:"secret_file"`
	// KeyID is the token's "kid" (default: for EdDSA the RFC 7638
	// thumbprint of the public key; for HS256 none).
	KeyID string `yaml:"key_id"`
	// Issuer is the "iss" (default edgeguard).
	Issuer string `yaml:"issuer"`
	// Audience is the "aud" (default none).
	Audience string `yaml:"audience"`
	// TTL is the token lifetime, 1s to 5m (default 30s).
	TTL time.Duration `yaml:"ttl"`
	// Claims are the JWT claims copied into the token (default [sub]).
	Claims []string `yaml:"claims"`
	// Consumer includes the consumer (id, username, custom_id, tier) (default true).
	Consumer *bool `yaml:"consumer"`
	// BindHeaders includes the identity headers the transformer set and
	// ConsumerHeaders, with their values, so that the verifier rejects a
	// request where they differ (default true).
	BindHeaders *bool `yaml:"bind_headers"`
}

// ConsumerHeaders are the identity headers the authentication plugins (jwt)
// set for the upstream. A Signer that binds headers binds these too, after
// the transformer's own, whether or not the request has them: a client
// cannot add one next to a captured token. It must not be modified.
var ConsumerHeaders = []string{"X-Consumer-ID", "X-Consumer-Custom-ID", "X-Consumer-Username",
	"X-Credential-Identifier", "X-Anonymous-Consumer"}

// FieldError is a problem with one field of Config.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Signer makes gateway identity tokens.
type Signer struct {
	header string
	hdrB64 []byte // base64url(JOSE header) + "."
	prefix []byte // `{"iss":...,"aud":...,"iat":`
	ttl    int64
	claims []claim
	cons   bool
	bind   []bindHeader
	ed     ed25519.PrivateKey
	hsKey  []byte
	pool   sync.Pool
	jtiPfx string
	jtiSeq atomic.Uint64
	now    func() time.Time
	alg    string
	kid    string
	pubKey ed25519.PublicKey
}

type claim struct {
	name string
	key  []byte // `"name":`
}

type bindHeader struct {
	name string // canonical, for Peek
	key  []byte // `"lower-name":[`
}

type state struct {
	raw []byte
	tmp []byte
	mac hash.Hash
	sum [64]byte
}

// New builds a Signer. bind lists the headers the transformer sets from
// identity (they and ConsumerHeaders are bound when BindHeaders is on).
// Errors are *FieldError.
func New(c Config, bind []string) (*Signer, error) {
	s := &Signer{header: c.Header, now: time.Now}
	if s.header == "" {
		s.header = verify.DefaultHeader
	}
	if !httpguts.ValidHeaderFieldName(s.header) {
		return nil, fieldErr("header", "invalid header name %q", s.header)
	}
	if err := s.loadKey(c); err != nil {
		return nil, err
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	if ttl < time.Second || ttl > 5*time.Minute {
		return nil, fieldErr("ttl", "must be between 1s and 5m, got %s", ttl)
	}
	if ttl%time.Second != 0 {
		return nil, fieldErr("ttl", "must be whole seconds, got %s", ttl)
	}
	s.ttl = int64(ttl / time.Second)
	iss := c.Issuer
	if iss == "" {
		iss = verify.DefaultIssuer
	}
	for f, v := range map[string]string{"issuer": iss, "audience": c.Audience, "key_id": c.KeyID} {
		if !utf8.ValidString(v) {
			return nil, fieldErr(f, "must be valid UTF-8")
		}
	}

	// JOSE header, encoded once.
	if c.KeyID != "" {
		s.kid = c.KeyID
	}
	hdr := struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid,omitempty"`
	}{s.alg, verify.TokenType, s.kid}
	hj, _ := json.Marshal(hdr)
	s.hdrB64 = base64.RawURLEncoding.AppendEncode(nil, hj)
	s.hdrB64 = append(s.hdrB64, '.')

	s.prefix = append(s.prefix, `{"iss":`...)
	s.prefix = filters.AppendJSONString(s.prefix, iss)
	if c.Audience != "" {
		s.prefix = append(s.prefix, `,"aud":`...)
		s.prefix = filters.AppendJSONString(s.prefix, c.Audience)
	}
	s.prefix = append(s.prefix, `,"iat":`...)

	claims := c.Claims
	if claims == nil {
		claims = []string{"sub"}
	}
	seen := map[string]bool{}
	for i, name := range claims {
		if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, " \t\r\n\"\\") ||
			strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
			return nil, fieldErr(fmt.Sprintf("claims[%d]", i), "invalid claim name %q", name)
		}
		if seen[name] {
			return nil, fieldErr(fmt.Sprintf("claims[%d]", i), "duplicate claim %q", name)
		}
		seen[name] = true
		k := filters.AppendJSONString(nil, name)
		s.claims = append(s.claims, claim{name: name, key: append(k, ':')})
	}
	s.cons = c.Consumer == nil || *c.Consumer
	if c.BindHeaders == nil || *c.BindHeaders {
		done := map[string]bool{}
		for _, h := range append(bind[:len(bind):len(bind)], ConsumerHeaders...) {
			l := strings.ToLower(h)
			if done[l] || strings.EqualFold(h, s.header) {
				continue
			}
			done[l] = true
			k := filters.AppendJSONString(nil, l)
			s.bind = append(s.bind, bindHeader{name: h, key: append(k, ':', '[')})
		}
	}

	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	s.jtiPfx = "eg-" + hex.EncodeToString(rnd[:]) + "-"
	s.pool.New = func() any {
		st := &state{raw: make([]byte, 0, 512), tmp: make([]byte, 0, 128)}
		if s.hsKey != nil {
			st.mac = hmac.New(sha256.New, s.hsKey)
		}
		return st
	}
	return s, nil
}

func (s *Signer) loadKey(c Config) error {
	hasKey := c.PrivateKeyFile != "" || c.PrivateKey != ""
	hasSecret := c.Secret != "" || c.SecretFile != ""
	alg := c.Algorithm
	if alg == "" {
		switch {
		case hasKey:
			alg = "EdDSA"
		case hasSecret:
			alg = "HS256"
		default:
			return fieldErr("private_key_file", "a key is required: private_key_file (EdDSA) or secret_file (HS256)")
		}
	}
	switch alg {
	case "EdDSA":
		if hasSecret {
			return fieldErr("secret", "EdDSA takes private_key_file or private_key, not a secret")
		}
		if c.PrivateKeyFile != "" && c.PrivateKey != "" {
			return fieldErr("private_key", "set private_key_file or private_key, not both")
		}
		data := []byte(c.PrivateKey)
		field := "private_key"
		if c.PrivateKeyFile != "" {
			field = "private_key_file"
			var err error
			if data, err = os.ReadFile(c.PrivateKeyFile); err != nil {
				return fieldErr(field, "cannot read key: %v", err)
			}
		}
		if len(data) == 0 {
			return fieldErr("private_key_file", "EdDSA needs private_key_file or private_key")
		}
		k, err := ParsePrivateKeyPEM(data)
		if err != nil {
			return fieldErr(field, "%v", err)
		}
		s.ed = k
		s.pubKey = k.Public().(ed25519.PublicKey)
		s.kid = verify.Thumbprint(s.pubKey)
	case "HS256":
		if hasKey {
			return fieldErr("private_key_file", "HS256 takes secret or secret_file, not a private key")
		}
		if c.Secret != "" && c.SecretFile != "" {
			return fieldErr("secret", "set secret or secret_file, not both")
		}
		secret, field := []byte(c.Secret), "secret"
		if c.SecretFile != "" {
			field = "secret_file"
			data, err := os.ReadFile(c.SecretFile)
			if err != nil {
				return fieldErr(field, "cannot read secret: %v", err)
			}
			str, _ := strings.CutSuffix(string(data), "\n")
			str, _ = strings.CutSuffix(str, "\r")
			secret = []byte(str)
		}
		if len(secret) < 32 {
			return fieldErr(field, "HS256 secret must be at least 32 bytes, got %d", len(secret))
		}
		s.hsKey = secret
	default:
		return fieldErr("algorithm", "must be EdDSA or HS256, got %q", alg)
	}
	s.alg = alg
	return nil
}

// ParsePrivateKeyPEM parses an Ed25519 private key in PEM (PKCS#8).
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("no PEM \"PRIVATE KEY\" (PKCS#8) block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cannot parse private key: %v", err)
	}
	ed, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, not Ed25519", k)
	}
	return ed, nil
}

// HeaderName returns the canonical request header name of the token.
func (s *Signer) HeaderName() string { return s.header }

// Algorithm returns EdDSA or HS256.
func (s *Signer) Algorithm() string { return s.alg }

// KeyID returns the token's kid ("" when none).
func (s *Signer) KeyID() string { return s.kid }

// PublicKey returns the Ed25519 public key (nil for HS256), for backends'
// configuration and tests.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.pubKey }

// SetClock replaces time.Now; for tests. It must be called before use.
func (s *Signer) SetClock(now func() time.Time) { s.now = now }

// b2s views b as a string without copying; the string must not outlive b's
// next modification (it is only passed to append-style encoders here).
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// AppendToken appends a token for the request in c, as it will be forwarded
// (method, path and identity headers already edited), to dst. It does not
// allocate once its pooled buffers have grown.
func (s *Signer) AppendToken(dst []byte, c *filters.Ctx) []byte {
	st := s.pool.Get().(*state)
	req := &c.RC.Request
	iat := s.now().Unix()

	p := append(st.raw[:0], s.prefix...)
	p = strconv.AppendInt(p, iat, 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, iat+s.ttl, 10)
	p = append(p, `,"jti":`...)
	if len(c.RequestID) > 0 {
		p = filters.AppendJSONString(p, b2s(c.RequestID))
	} else {
		p = append(p, '"')
		p = append(p, s.jtiPfx...)
		p = strconv.AppendUint(p, s.jtiSeq.Add(1), 10)
		p = append(p, '"')
	}
	p = append(p, `,"htm":`...)
	p = filters.AppendJSONString(p, b2s(req.Header.Method()))
	p = append(p, `,"htu":"`...)
	p = verify.AppendCanonicalPath(p, filters.URI(c.RC).Path())
	p = append(p, '"')

	if s.cons && c.Consumer != nil {
		co := c.Consumer
		p = append(p, `,"consumer":{`...)
		n := len(p)
		p = appendMember(p, n, `"id":`, co.ID)
		p = appendMember(p, n, `"username":`, co.Username)
		p = appendMember(p, n, `"custom_id":`, co.CustomID)
		p = appendMember(p, n, `"tier":`, co.Tier)
		p = append(p, '}')
	}
	if len(s.claims) > 0 && c.Claims != nil {
		p = append(p, `,"claims":{`...)
		n := len(p)
		for i := range s.claims {
			cl := &s.claims[i]
			var ok bool
			st.tmp, ok = c.Claims.AppendClaim(st.tmp[:0], cl.name)
			if !ok || len(st.tmp) == 0 {
				continue
			}
			if len(p) > n {
				p = append(p, ',')
			}
			p = append(p, cl.key...)
			p = filters.AppendJSONString(p, b2s(st.tmp))
		}
		p = append(p, '}')
	}
	if len(s.bind) > 0 {
		p = append(p, `,"hdr":{`...)
		for i := range s.bind {
			b := &s.bind[i]
			if i > 0 {
				p = append(p, ',')
			}
			p = append(p, b.key...)
			for j, v := range req.Header.PeekAll(b.name) {
				if j > 0 {
					p = append(p, ',')
				}
				p = filters.AppendJSONString(p, b2s(v))
			}
			p = append(p, ']')
		}
		p = append(p, '}')
	}
	p = append(p, '}')

	start := len(dst)
	dst = append(dst, s.hdrB64...)
	dst = base64.RawURLEncoding.AppendEncode(dst, p)
	var sig []byte
	if s.ed != nil {
		sig = ed25519.Sign(s.ed, dst[start:])
	} else {
		st.mac.Reset()
		st.mac.Write(dst[start:])
		sig = st.mac.Sum(st.sum[:0])
	}
	dst = append(dst, '.')
	dst = base64.RawURLEncoding.AppendEncode(dst, sig)
	st.raw = p
	s.pool.Put(st)
	return dst
}

// appendMember appends `,key"value"` (no comma right after the object's
// opening at n) when value is not empty.
func appendMember(p []byte, n int, key, value string) []byte {
	if value == "" {
		return p
	}
	if len(p) > n {
		p = append(p, ',')
	}
	p = append(p, key...)
	return filters.AppendJSONString(p, value)
}
