// Package verify lets a backend check that a request really came through the
// edgeguard gateway, and for which identity.
//
// The gateway's request-transformer (option gateway_identity) adds a header,
// X-Gateway-Identity by default, holding a short-lived compact JWS signed with
// the gateway's own key (EdDSA or HS256). The token binds the forwarded
// identity (consumer, selected JWT claims and the values of the identity
// headers the gateway set) to the request's method, path and time. A backend
// that verifies it no longer trusts headers because of the peer's IP address:
// a request that did not come through the gateway, or whose method, path or
// identity headers were changed, or that replays another request's token with
// another method, path or identity headers, is rejected. The query string,
// the body and other headers are not bound: within its lifetime a token
// replays on a request that differs only there, unless RejectReplays is set.
//
// Use Verifier.Middleware for net/http and Verifier.FastHTTP for fasthttp;
// both answer 401 with a JSON body when the check fails and otherwise expose
// the Identity (FromContext, FromRequestCtx).
//
// Token format (payload members, all set by the gateway):
//
//	iss, aud        issuer ("edgeguard" by default) and optional audience
//	iat, exp        issued at / expires, Unix seconds (ttl 30 s by default)
//	jti             the gateway's request ID
//	htm, htu        the forwarded method and path (decoded, then
//	                percent-encoded by AppendCanonicalPath; no query)
//	consumer        {id, username, custom_id, tier} of the consumer, if any
//	claims          {name: value} of the configured JWT claims (strings;
//	                arrays comma-joined as in the identity headers)
//	hdr             {lower-case header name: [values]} of every header the
//	                gateway set from identity (the transformer's and the jwt
//	                plugin's X-Consumer-ID, X-Consumer-Custom-ID,
//	                X-Consumer-Username, X-Credential-Identifier,
//	                X-Anonymous-Consumer); [] means the gateway sent none
//
// The JOSE header carries typ "gateway-identity+jwt", so no other JWT signed
// by the same key can be passed off as one (RFC 8725 section 3.11).
//
// A Verifier is safe for concurrent use.
package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cristalhq/jwt/v4"
	"github.com/valyala/fasthttp"
)

// DefaultHeader is the request header carrying the token.
const DefaultHeader = "X-Gateway-Identity"

// TokenType is the JOSE "typ" of a gateway identity token.
const TokenType = "gateway-identity+jwt"

// DefaultIssuer is the "iss" the gateway uses unless configured otherwise.
const DefaultIssuer = "edgeguard"

// MaxTokenSize bounds the token a verifier looks at (bytes).
const MaxTokenSize = 16 << 10

// Errors returned by Verify; test with errors.Is.
var (
	ErrMissing     = errors.New("gateway identity: missing token")
	ErrMalformed   = errors.New("gateway identity: malformed token")
	ErrSignature   = errors.New("gateway identity: bad signature")
	ErrExpired     = errors.New("gateway identity: token expired")
	ErrNotYetValid = errors.New("gateway identity: token issued in the future")
	ErrLifetime    = errors.New("gateway identity: token lifetime too long")
	ErrIssuer      = errors.New("gateway identity: wrong issuer")
	ErrAudience    = errors.New("gateway identity: wrong audience")
	ErrMethod      = errors.New("gateway identity: method does not match")
	ErrPath        = errors.New("gateway identity: path does not match")
	ErrHeaders     = errors.New("gateway identity: identity headers do not match")
	ErrReplay      = errors.New("gateway identity: token already used")
)

// Consumer is the gateway consumer the request was authenticated as.
type Consumer struct {
	ID       string `json:"id,omitempty"`
	Username string `json:"username,omitempty"`
	CustomID string `json:"custom_id,omitempty"`
	Tier     string `json:"tier,omitempty"`
}

// Identity is what a verified token says about the request.
type Identity struct {
	Issuer   string
	Audience string
	// ID is the gateway's request ID (jti).
	ID       string
	Method   string
	Path     string
	IssuedAt time.Time
	Expires  time.Time
	// Consumer is nil when the request had no consumer.
	Consumer *Consumer
	// Claims holds the JWT claims the gateway was configured to forward.
	Claims map[string]string
	// Headers holds the identity headers the gateway set, by lower-case
	// name; an empty list means the gateway made sure the header is absent.
	Headers map[string][]string
}

// Claim returns a forwarded claim.
func (id *Identity) Claim(name string) string { return id.Claims[name] }

// Subject returns the forwarded "sub" claim, if the gateway forwards it.
func (id *Identity) Subject() string { return id.Claims["sub"] }

// Config configures a Verifier. Exactly one of PublicKeys and Secrets is set.
type Config struct {
	// PublicKeys are the gateway's Ed25519 public keys (several during a
	// key rotation); tokens are EdDSA.
	PublicKeys []ed25519.PublicKey
	// Secrets are HS256 secrets shared with the gateway (several during a
	// rotation), at least 32 bytes each.
	Secrets [][]byte
	// Header is the request header with the token (DefaultHeader if empty).
	Header string
	// Issuer is the expected "iss" (DefaultIssuer if empty).
	Issuer string
	// Audience, when set, must equal the token's "aud".
	Audience string
	// Leeway is the clock skew tolerated on iat and exp (default 5 s).
	Leeway time.Duration
	// MaxTTL rejects tokens whose exp - iat is longer (default 5 min).
	MaxTTL time.Duration
	// RejectReplays remembers each token's jti until it expires and rejects
	// a second use. Off by default: a gateway retry to the same backend
	// would then be refused.
	RejectReplays bool
	// Now returns the current time (time.Now if nil); for tests.
	Now func() time.Time
}

// Verifier checks gateway identity tokens.
type Verifier struct {
	cfg    Config
	header string
	ed     []edKey
	hs     []jwt.Verifier
	seen   *replayCache
}

type edKey struct {
	kid string
	v   jwt.Verifier
}

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{cfg: cfg, header: cfg.Header}
	if v.header == "" {
		v.header = DefaultHeader
	}
	if v.cfg.Issuer == "" {
		v.cfg.Issuer = DefaultIssuer
	}
	if v.cfg.Leeway == 0 {
		v.cfg.Leeway = 5 * time.Second
	}
	if v.cfg.MaxTTL == 0 {
		v.cfg.MaxTTL = 5 * time.Minute
	}
	if v.cfg.Now == nil {
		v.cfg.Now = time.Now
	}
	switch {
	case len(cfg.PublicKeys) > 0 && len(cfg.Secrets) > 0:
		return nil, errors.New("gateway identity: set either public keys or secrets, not both")
	case len(cfg.PublicKeys) == 0 && len(cfg.Secrets) == 0:
		return nil, errors.New("gateway identity: no public key or secret")
	}
	for _, k := range cfg.PublicKeys {
		ev, err := jwt.NewVerifierEdDSA(k)
		if err != nil {
			return nil, fmt.Errorf("gateway identity: public key: %w", err)
		}
		v.ed = append(v.ed, edKey{kid: Thumbprint(k), v: ev})
	}
	for _, s := range cfg.Secrets {
		if len(s) < 32 {
			return nil, errors.New("gateway identity: secret must be at least 32 bytes")
		}
		hv, err := jwt.NewVerifierHS(jwt.HS256, s)
		if err != nil {
			return nil, fmt.Errorf("gateway identity: secret: %w", err)
		}
		v.hs = append(v.hs, hv)
	}
	if cfg.RejectReplays {
		v.seen = &replayCache{m: map[string]int64{}}
	}
	return v, nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint of an Ed25519 public key;
// the gateway uses it as the token's "kid".
func Thumbprint(pub ed25519.PublicKey) string {
	jwk := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// LoadPublicKeyFile reads an Ed25519 public key in PEM ("PUBLIC KEY", PKIX),
// as written by `openssl pkey -in gateway.pem -pubout`.
func LoadPublicKeyFile(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePublicKeyPEM(data)
}

// ParsePublicKeyPEM parses an Ed25519 public key in PEM (PKIX).
func ParsePublicKeyPEM(data []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New("gateway identity: no PEM \"PUBLIC KEY\" block")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("gateway identity: cannot parse public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("gateway identity: public key is %T, not Ed25519", k)
	}
	return pub, nil
}

// HeaderName returns the header the verifier reads.
func (v *Verifier) HeaderName() string { return v.header }

// Headers gives Verify the request headers: http.Header implements it.
type Headers interface {
	Values(name string) []string
}

type payload struct {
	Iss      string              `json:"iss"`
	Aud      string              `json:"aud"`
	Iat      *int64              `json:"iat"`
	Exp      *int64              `json:"exp"`
	Jti      string              `json:"jti"`
	Htm      *string             `json:"htm"`
	Htu      *string             `json:"htu"`
	Consumer *Consumer           `json:"consumer"`
	Claims   map[string]string   `json:"claims"`
	Hdr      map[string][]string `json:"hdr"`
}

// Verify checks token for a request with method, path (decoded, without
// query) and headers. It returns the identity, or an error wrapping one of
// the Err values.
func (v *Verifier) Verify(token []byte, method, path string, h Headers) (*Identity, error) {
	if len(token) == 0 {
		return nil, ErrMissing
	}
	if len(token) > MaxTokenSize {
		return nil, ErrMalformed
	}
	tok, err := jwt.ParseNoVerify(token)
	if err != nil {
		return nil, ErrMalformed
	}
	hd := tok.Header()
	if hd.Type != TokenType || hd.ContentType != "" {
		return nil, ErrMalformed
	}
	if !v.verifySignature(tok) {
		return nil, ErrSignature
	}
	// Unknown members are ignored so that a newer gateway can add some.
	var p payload
	if err := json.Unmarshal(tok.Claims(), &p); err != nil {
		return nil, ErrMalformed
	}
	if p.Iat == nil || p.Exp == nil || p.Htm == nil || p.Htu == nil {
		return nil, ErrMalformed
	}
	now := v.cfg.Now()
	iat, exp := time.Unix(*p.Iat, 0), time.Unix(*p.Exp, 0)
	switch {
	case p.Iss != v.cfg.Issuer:
		return nil, ErrIssuer
	case v.cfg.Audience != "" && p.Aud != v.cfg.Audience:
		return nil, ErrAudience
	case exp.Before(iat) || exp.Sub(iat) > v.cfg.MaxTTL:
		return nil, ErrLifetime
	case iat.After(now.Add(v.cfg.Leeway)):
		return nil, ErrNotYetValid
	case !exp.After(now.Add(-v.cfg.Leeway)):
		return nil, ErrExpired
	case *p.Htm != method:
		return nil, ErrMethod
	case *p.Htu != string(AppendCanonicalPath(make([]byte, 0, len(path)+16), []byte(path))):
		return nil, ErrPath
	}
	for name, want := range p.Hdr {
		got := h.Values(name)
		if !slices.Equal(got, want) {
			return nil, fmt.Errorf("%w: %s", ErrHeaders, name)
		}
	}
	if v.seen != nil && !v.seen.first(p.Iss+"\x00"+p.Jti, exp.Add(v.cfg.Leeway).Unix(), now.Unix()) {
		return nil, ErrReplay
	}
	id := &Identity{
		Issuer: p.Iss, Audience: p.Aud, ID: p.Jti, Method: *p.Htm, Path: *p.Htu,
		IssuedAt: iat, Expires: exp, Consumer: p.Consumer, Claims: p.Claims, Headers: p.Hdr,
	}
	if id.Claims == nil {
		id.Claims = map[string]string{}
	}
	return id, nil
}

func (v *Verifier) verifySignature(tok *jwt.Token) bool {
	if len(v.ed) > 0 {
		kid := tok.Header().KeyID
		for _, k := range v.ed {
			if kid != "" && kid != k.kid {
				continue
			}
			if k.v.Verify(tok) == nil {
				return true
			}
		}
		return false
	}
	for _, hv := range v.hs {
		if hv.Verify(tok) == nil {
			return true
		}
	}
	return false
}

// replayCache remembers token ids until they expire.
type replayCache struct {
	mu        sync.Mutex
	m         map[string]int64
	lastSweep int64
}

// first records key until exp and reports whether it was new.
func (r *replayCache) first(key string, exp, now int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now != r.lastSweep && len(r.m) > 1024 {
		for k, e := range r.m {
			if e < now {
				delete(r.m, k)
			}
		}
		r.lastSweep = now
	}
	if e, ok := r.m[key]; ok && e >= now {
		return false
	}
	r.m[key] = exp
	return true
}

type ctxKey struct{}

// UserValueKey is the fasthttp user value under which FastHTTP stores the
// *Identity.
const UserValueKey = "edgeguard.gateway_identity"

// FromContext returns the identity stored by Middleware.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok
}

// FromRequestCtx returns the identity stored by FastHTTP.
func FromRequestCtx(ctx *fasthttp.RequestCtx) (*Identity, bool) {
	id, ok := ctx.UserValue(UserValueKey).(*Identity)
	return id, ok
}

var unauthorizedBody = []byte(`{"message":"invalid gateway identity"}`)

// Middleware returns a net/http handler that verifies every request before
// calling next, and answers 401 otherwise. The identity is in the request
// context (FromContext).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tok []byte
		if vals := r.Header.Values(v.header); len(vals) == 1 {
			tok = []byte(vals[0])
		} else if len(vals) > 1 {
			tok = []byte("multiple")
		}
		id, err := v.Verify(tok, r.Method, r.URL.Path, r.Header)
		if err != nil {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write(unauthorizedBody)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	})
}

// fastHeaders adapts fasthttp request headers to Headers.
type fastHeaders struct{ h *fasthttp.RequestHeader }

func (f fastHeaders) Values(name string) []string {
	vals := f.h.PeekAll(name)
	if len(vals) == 0 {
		return nil
	}
	out := make([]string, len(vals))
	for i, b := range vals {
		out[i] = string(b)
	}
	return out
}

// FastHTTP returns a fasthttp handler that verifies every request before
// calling next, and answers 401 otherwise. The identity is the user value
// UserValueKey (FromRequestCtx).
func (v *Verifier) FastHTTP(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		var tok []byte
		if vals := ctx.Request.Header.PeekAll(v.header); len(vals) == 1 {
			tok = append([]byte(nil), vals[0]...)
		} else if len(vals) > 1 {
			tok = []byte("multiple")
		}
		id, err := v.Verify(tok, string(ctx.Method()), string(ctx.Path()), fastHeaders{&ctx.Request.Header})
		if err != nil {
			ctx.Response.Header.SetContentType("application/json; charset=utf-8")
			ctx.SetStatusCode(fasthttp.StatusUnauthorized)
			ctx.SetBody(unauthorizedBody)
			return
		}
		ctx.SetUserValue(UserValueKey, id)
		next(ctx)
	}
}

// AppendCanonicalPath appends the form of a decoded request path that the
// token's "htu" holds: bytes other than RFC 3986 unreserved characters, "/"
// and sub-delimiters are percent-encoded with upper-case hex. Both the gateway
// and the verifier compare paths in this form, so any byte sequence,
// including invalid UTF-8, survives the JSON round trip.
func AppendCanonicalPath(dst, path []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range path {
		if pathSafe[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
		}
	}
	return dst
}

var pathSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~/!$&'()*+,;=:@" {
		t[c] = true
	}
	return t
}()
