package verify_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/gatewayid"
	"github.com/edgeguard/edgeguard/filters/gatewayid/verify"
)

type fakeClaims map[string]string

func (f fakeClaims) AppendClaim(dst []byte, path string) ([]byte, bool) {
	v, ok := f[path]
	if !ok {
		return dst, false
	}
	return append(dst, v...), true
}

const secret = "0123456789abcdef0123456789abcdef"

var t0 = time.Unix(1_800_000_000, 0)

func edSigner(t testing.TB) (*gatewayid.Signer, ed25519.PublicKey) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	s, err := gatewayid.New(gatewayid.Config{PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		Claims: []string{"sub", "email"}}, []string{"X-User-ID", "X-User-Email"})
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(func() time.Time { return t0 })
	return s, pub
}

func hsSigner(t testing.TB) *gatewayid.Signer {
	s, err := gatewayid.New(gatewayid.Config{Secret: secret, Audience: "orders"}, []string{"X-User-ID", "X-User-Email"})
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(func() time.Time { return t0 })
	return s
}

// forwarded is a request as the gateway forwards it: identity headers set
// by the transformer and the token.
type forwarded struct {
	method, path string
	headers      map[string][]string
	token        string
}

func mint(s *gatewayid.Signer, method, path, sub string) forwarded {
	r := filtertest.NewRequest(method, path, "203.0.113.7")
	r.Ctx.Claims = fakeClaims{"sub": sub, "email": sub + "@example.com"}
	r.Ctx.Consumer = &filters.Consumer{ID: "c-" + sub, Username: sub}
	r.RC.Request.Header.Set("X-User-ID", sub)
	tok := string(s.AppendToken(nil, &r.Ctx))
	p := path
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return forwarded{method: method, path: p, headers: map[string][]string{"X-User-Id": {sub}}, token: tok}
}

func (f forwarded) header() http.Header {
	h := http.Header{}
	for k, v := range f.headers {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	if f.token != "" {
		h.Set(verify.DefaultHeader, f.token)
	}
	return h
}

func verifier(t testing.TB, cfg verify.Config) *verify.Verifier {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0.Add(2 * time.Second) }
	}
	v, err := verify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	es, pub := edSigner(t)
	ev := verifier(t, verify.Config{PublicKeys: []ed25519.PublicKey{pub}})
	hs := hsSigner(t)
	hv := verifier(t, verify.Config{Secrets: [][]byte{[]byte(secret)}, Audience: "orders"})
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)

	good := mint(es, "GET", "/orders/7?page=2", "u-42")
	id, err := ev.Verify([]byte(good.token), "GET", "/orders/7", good.header())
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject() != "u-42" || id.Claim("email") != "u-42@example.com" || id.Consumer == nil ||
		id.Consumer.Username != "u-42" || id.ID != "test-request-id" || id.Path != "/orders/7" ||
		!id.IssuedAt.Equal(t0) || !id.Expires.Equal(t0.Add(30*time.Second)) ||
		len(id.Headers["x-user-email"]) != 0 || id.Headers["x-user-id"][0] != "u-42" {
		t.Fatalf("identity %+v", id)
	}
	hgood := mint(hs, "POST", "/orders", "u-1")
	if id, err := hv.Verify([]byte(hgood.token), "POST", "/orders", hgood.header()); err != nil || id.Audience != "orders" {
		t.Fatalf("HS256: %v %+v", err, id)
	}

	other := mint(es, "GET", "/orders/8", "u-666")
	tamper := func(tok string, part int, f func([]byte) []byte) string {
		ps := strings.Split(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(ps[part])
		ps[part] = base64.RawURLEncoding.EncodeToString(f(raw))
		return strings.Join(ps, ".")
	}
	edHdr := func(alg string) func([]byte) []byte {
		return func(b []byte) []byte { return []byte(strings.Replace(string(b), "EdDSA", alg, 1)) }
	}
	swap := func(tok string, part int, with string) string {
		ps := strings.Split(tok, ".")
		ps[part] = strings.Split(with, ".")[part]
		return strings.Join(ps, ".")
	}
	hdrs := good.header()
	tests := []struct {
		name         string
		v            *verify.Verifier
		tok          string
		method, path string
		h            http.Header
		want         error
	}{
		{"missing", ev, "", "GET", "/orders/7", hdrs, verify.ErrMissing},
		{"garbage", ev, "not a token", "GET", "/orders/7", hdrs, verify.ErrMalformed},
		{"tampered payload", ev, tamper(good.token, 1, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), "u-42", "u-43", -1))
		}), "GET", "/orders/7", hdrs, verify.ErrSignature},
		{"tampered signature", ev, tamper(good.token, 2, func(b []byte) []byte { b[0] ^= 1; return b }), "GET", "/orders/7", hdrs, verify.ErrSignature},
		{"signature of another token", ev, swap(good.token, 2, other.token), "GET", "/orders/7", hdrs, verify.ErrSignature},
		{"alg none", ev, tamper(good.token, 0, edHdr("none")), "GET", "/orders/7", hdrs, verify.ErrSignature},
		{"typ JWT", ev, tamper(good.token, 0, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), "gateway-identity+jwt", "JWT", 1))
		}), "GET", "/orders/7", hdrs, verify.ErrMalformed},
		{"other key", verifier(t, verify.Config{PublicKeys: []ed25519.PublicKey{otherPub}}), good.token, "GET", "/orders/7", hdrs, verify.ErrSignature},
		{"HS token to EdDSA verifier", ev, hgood.token, "POST", "/orders", hgood.header(), verify.ErrSignature},
		{"EdDSA token to HS verifier", hv, good.token, "GET", "/orders/7", hdrs, verify.ErrSignature},
		{"HS wrong secret", verifier(t, verify.Config{Secrets: [][]byte{[]byte(strings.Repeat("x", 32))}}), hgood.token, "POST", "/orders", hgood.header(), verify.ErrSignature},
		{"wrong method", ev, good.token, "DELETE", "/orders/7", hdrs, verify.ErrMethod},
		{"wrong path", ev, good.token, "GET", "/orders/8", hdrs, verify.ErrPath},
		{"path prefix", ev, good.token, "GET", "/orders/7/x", hdrs, verify.ErrPath},
		{"replay of another request's token", ev, other.token, "GET", "/orders/7", hdrs, verify.ErrPath},
		{"identity header changed", ev, good.token, "GET", "/orders/7", other.header(), verify.ErrHeaders},
		{"absent identity header added", ev, good.token, "GET", "/orders/7", func() http.Header {
			h := good.header()
			h.Set("X-User-Email", "boss@example.com")
			return h
		}(), verify.ErrHeaders},
		{"identity header duplicated", ev, good.token, "GET", "/orders/7", func() http.Header {
			h := good.header()
			h.Add("X-User-ID", "admin")
			return h
		}(), verify.ErrHeaders},
		{"expired", verifier(t, verify.Config{PublicKeys: []ed25519.PublicKey{pub}, Now: func() time.Time { return t0.Add(36 * time.Second) }}),
			good.token, "GET", "/orders/7", hdrs, verify.ErrExpired},
		{"issued in the future", verifier(t, verify.Config{PublicKeys: []ed25519.PublicKey{pub}, Now: func() time.Time { return t0.Add(-10 * time.Second) }}),
			good.token, "GET", "/orders/7", hdrs, verify.ErrNotYetValid},
		{"lifetime too long", verifier(t, verify.Config{PublicKeys: []ed25519.PublicKey{pub}, MaxTTL: 10 * time.Second}),
			good.token, "GET", "/orders/7", hdrs, verify.ErrLifetime},
		{"wrong issuer", verifier(t, verify.Config{PublicKeys: []ed25519.PublicKey{pub}, Issuer: "other"}), good.token, "GET", "/orders/7", hdrs, verify.ErrIssuer},
		{"wrong audience", verifier(t, verify.Config{Secrets: [][]byte{[]byte(secret)}, Audience: "billing"}), hgood.token, "POST", "/orders", hgood.header(), verify.ErrAudience},
	}
	for _, tc := range tests {
		_, err := tc.v.Verify([]byte(tc.tok), tc.method, tc.path, tc.h)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}

	// Within the leeway: accepted.
	lv := verifier(t, verify.Config{PublicKeys: []ed25519.PublicKey{pub}, Now: func() time.Time { return t0.Add(33 * time.Second) }})
	if _, err := lv.Verify([]byte(good.token), "GET", "/orders/7", hdrs); err != nil {
		t.Errorf("within leeway: %v", err)
	}
}

func TestRotationAndReplayCache(t *testing.T) {
	es, pub := edSigner(t)
	oldPub, _, _ := ed25519.GenerateKey(rand.Reader)
	v := verifier(t, verify.Config{PublicKeys: []ed25519.PublicKey{oldPub, pub}, RejectReplays: true})
	f := mint(es, "GET", "/a", "u-1")
	if _, err := v.Verify([]byte(f.token), "GET", "/a", f.header()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify([]byte(f.token), "GET", "/a", f.header()); !errors.Is(err, verify.ErrReplay) {
		t.Fatalf("second use: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, c := range []verify.Config{
		{},
		{PublicKeys: []ed25519.PublicKey{pub[:5]}},
		{Secrets: [][]byte{[]byte("short")}},
		{PublicKeys: []ed25519.PublicKey{pub}, Secrets: [][]byte{[]byte(secret)}},
	} {
		if _, err := verify.New(c); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

func TestPublicKeyFile(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	p := filepath.Join(t.TempDir(), "gw.pub")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	got, err := verify.LoadPublicKeyFile(p)
	if err != nil || !got.Equal(pub) {
		t.Fatalf("%v", err)
	}
	if _, err := verify.ParsePublicKeyPEM([]byte("nope")); err == nil {
		t.Fatal("parsed garbage")
	}
}

func TestNetHTTPMiddleware(t *testing.T) {
	es, pub := edSigner(t)
	v := verifier(t, verify.Config{PublicKeys: []ed25519.PublicKey{pub}})
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := verify.FromContext(r.Context())
		if !ok {
			t.Error("no identity in context")
			return
		}
		io.WriteString(w, id.Subject())
	}))
	good := mint(es, "GET", "/orders/7", "u-42")
	do := func(method, target string, hdr http.Header) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, nil)
		req.Header = hdr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do("GET", "/orders/7?page=1", good.header()); rec.Code != 200 || rec.Body.String() != "u-42" {
		t.Fatalf("good: %d %s", rec.Code, rec.Body)
	}
	noTok := good.header()
	noTok.Del(verify.DefaultHeader)
	twoTok := good.header()
	twoTok.Add(verify.DefaultHeader, good.token)
	addCons := good.header()
	addCons.Set("X-Consumer-Username", "admin")
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"missing":                   do("GET", "/orders/7", noTok),
		"two tokens":                do("GET", "/orders/7", twoTok),
		"added X-Consumer-Username": do("GET", "/orders/7", addCons),
		"wrong path":                do("GET", "/orders/8", good.header()),
		"wrong method":              do("POST", "/orders/7", good.header()),
	} {
		if rec.Code != 401 || rec.Body.String() != `{"message":"invalid gateway identity"}` {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	// Encoded paths: the verifier compares decoded paths.
	enc := mint(es, "GET", "/a%20b", "u-42")
	if rec := do("GET", "/a%20b", enc.header()); rec.Code != 200 {
		t.Errorf("encoded path: %d", rec.Code)
	}
}

func TestFastHTTPMiddleware(t *testing.T) {
	hs := hsSigner(t)
	v := verifier(t, verify.Config{Secrets: [][]byte{[]byte(secret)}})
	h := v.FastHTTP(func(ctx *fasthttp.RequestCtx) {
		id, ok := verify.FromRequestCtx(ctx)
		if !ok {
			t.Error("no identity")
			return
		}
		ctx.WriteString(id.Consumer.Username)
	})
	run := func(method, uri string, hdr http.Header) *fasthttp.RequestCtx {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.Header.SetMethod(method)
		req.SetRequestURI(uri)
		for k, vs := range hdr {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1)}, nil)
		h(&ctx)
		return &ctx
	}
	good := mint(hs, "PUT", "/orders/7", "u-42")
	if ctx := run("PUT", "/orders/7", good.header()); ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != "u-42" {
		t.Fatalf("good: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	noTok := good.header()
	noTok.Del(verify.DefaultHeader)
	spoof := good.header()
	spoof.Set("X-User-ID", "admin")
	addCons := good.header()
	addCons.Set("X-Consumer-ID", "c-admin")
	for name, ctx := range map[string]*fasthttp.RequestCtx{
		"added X-Consumer-ID": run("PUT", "/orders/7", addCons),
		"missing":             run("PUT", "/orders/7", noTok),
		"wrong method":        run("GET", "/orders/7", good.header()),
		"wrong path":          run("PUT", "/orders/8", good.header()),
		"spoofed header":      run("PUT", "/orders/7", spoof),
	} {
		if ctx.Response.StatusCode() != 401 || string(ctx.Response.Body()) != `{"message":"invalid gateway identity"}` {
			t.Errorf("%s: %d %s", name, ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

// TestConsumerHeadersBound: the X-Consumer-* headers the jwt plugin sets are
// bound like the transformer's own, present or not.
func TestConsumerHeadersBound(t *testing.T) {
	hs := hsSigner(t)
	v := verifier(t, verify.Config{Secrets: [][]byte{[]byte(secret)}, Audience: "orders"})
	r := filtertest.NewRequest("GET", "/orders/7", "203.0.113.7")
	r.Ctx.Claims = fakeClaims{"sub": "alice"}
	r.Ctx.Consumer = &filters.Consumer{ID: "c-1", Username: "alice"}
	r.RC.Request.Header.Set("X-User-ID", "alice")
	r.RC.Request.Header.Set("X-Consumer-ID", "c-1")
	r.RC.Request.Header.Set("X-Consumer-Username", "alice")
	tok := hs.AppendToken(nil, &r.Ctx)
	h := http.Header{"X-User-Id": {"alice"}, "X-Consumer-Id": {"c-1"}, "X-Consumer-Username": {"alice"}}
	id, err := v.Verify(tok, "GET", "/orders/7", h)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"X-Consumer-ID", "X-Consumer-Custom-ID", "X-Consumer-Username", "X-Credential-Identifier", "X-Anonymous-Consumer"} {
		if _, ok := id.Headers[strings.ToLower(name)]; !ok {
			t.Errorf("%s not bound: %v", name, id.Headers)
		}
	}
	for name, val := range map[string]string{"X-Consumer-Username": "admin", "X-Consumer-ID": "c-0",
		"X-Consumer-Custom-ID": "root", "X-Credential-Identifier": "k", "X-Anonymous-Consumer": "true"} {
		h2 := h.Clone()
		h2.Set(name, val)
		if _, err := v.Verify(tok, "GET", "/orders/7", h2); !errors.Is(err, verify.ErrHeaders) {
			t.Errorf("%s: %s accepted: %v", name, val, err)
		}
	}
	h2 := h.Clone()
	h2.Del("X-Consumer-Username")
	if _, err := v.Verify(tok, "GET", "/orders/7", h2); !errors.Is(err, verify.ErrHeaders) {
		t.Errorf("removed X-Consumer-Username accepted: %v", err)
	}
}
