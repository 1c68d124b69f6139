package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/gatewayid"
	"github.com/edgeguard/edgeguard/filters/gatewayid/verify"
	"github.com/edgeguard/edgeguard/filters/transformer"
)

type claims map[string]string

func (c claims) AppendClaim(dst []byte, p string) ([]byte, bool) {
	v, ok := c[p]
	return append(dst, v...), ok
}

// TestExampleBackend runs a request through the real request-transformer
// (article headers + gateway_identity) and hands the forwarded request to
// both example handlers.
func TestExampleBackend(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	tr, err := transformer.New(transformer.Config{
		Add:             transformer.Ops{Headers: []string{"X-User-ID:$(jwt.sub)", "X-User-Email:$(jwt.email)", "X-User-Roles:$(jwt.roles)"}},
		GatewayIdentity: &gatewayid.Config{PrivateKey: keyPEM, Claims: []string{"sub", "roles"}},
	}, filtertest.Env(t))
	if err != nil {
		t.Fatal(err)
	}
	r := filtertest.NewRequest("GET", "/orders/7", "203.0.113.7")
	r.RC.Request.Header.Set("X-User-ID", "admin") // spoof attempt, stripped by the gateway
	r.Ctx.Claims = claims{"sub": "u-42", "roles": "admin,dev"}
	r.Ctx.Consumer = &filters.Consumer{ID: "c-1", Username: "alice"}
	if tr.Access(&r.Ctx) != filters.Continue {
		t.Fatal("transformer rejected")
	}
	v, err := verify.New(verify.Config{PublicKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}

	// net/http
	req := httptest.NewRequest("GET", "/orders/7", nil)
	for k, val := range r.RC.Request.Header.All() {
		req.Header.Add(string(k), string(val))
	}
	var out bytes.Buffer
	rec := httptest.NewRecorder()
	newHandler(v, &out).ServeHTTP(rec, req)
	check(t, rec.Code, rec.Body.Bytes(), out.String())

	// fasthttp
	var fr fasthttp.Request
	r.RC.Request.CopyTo(&fr)
	var ctx fasthttp.RequestCtx
	ctx.Init(&fr, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2)}, nil)
	out.Reset()
	newFastHandler(v, &out)(&ctx)
	check(t, ctx.Response.StatusCode(), ctx.Response.Body(), out.String())

	// The captured token replayed with an added X-Consumer-Username
	// (the jwt plugin's header, which the gateway did not send): 401.
	replay := req.Clone(req.Context())
	replay.Header.Set("X-Consumer-Username", "admin")
	rec = httptest.NewRecorder()
	newHandler(v, &out).ServeHTTP(rec, replay)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("added X-Consumer-Username (net/http): %d %s", rec.Code, rec.Body)
	}
	fr.Header.Set("X-Consumer-Username", "admin")
	ctx.Init(&fr, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2)}, nil)
	newFastHandler(v, &out)(&ctx)
	if ctx.Response.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("added X-Consumer-Username (fasthttp): %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}

	// Without the token: 401.
	req.Header.Del(verify.DefaultHeader)
	rec = httptest.NewRecorder()
	newHandler(v, &out).ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", rec.Code)
	}
}

func check(t *testing.T, code int, body []byte, printed string) {
	t.Helper()
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	var got reply
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Subject != "u-42" || got.Consumer.Username != "alice" || got.Request != "GET /orders/7" ||
		strings.Join(got.Received["x-user-id"], ",") != "u-42" || len(got.Received["x-user-email"]) != 0 ||
		got.Received["x-user-roles"][0] != "admin,dev" {
		t.Fatalf("reply %s", body)
	}
	if !strings.Contains(printed, `GET /orders/7 x-user-id: ["u-42"]`) {
		t.Fatalf("printed %q", printed)
	}
}
