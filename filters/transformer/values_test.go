package transformer

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/gatewayid/verify"
)

type jsonClaims = filtertest.JSONClaims

// requestLine is the request target the proxy forwards (the header's copy,
// which Access keeps in step with the URI).
func requestLine(r *filtertest.Request) string { return string(r.RC.Request.Header.RequestURI()) }

func TestURIValueIsOneSegment(t *testing.T) {
	tr, env := build(t, `
replace:
  uri: "/files/$(query.f)"
`)
	for q, want := range map[string]string{
		"a.txt":             "/files/a.txt",
		"x%20HTTP/1.1%20x":  "/files/x%20HTTP%2F1.1%20x",
		"a%3Fadmin%3D1":     "/files/a%3Fadmin%3D1",
		"../../admin/users": "/files/..%2F..%2Fadmin%2Fusers",
		"a%23b":             "/files/a%23b",
		"%C3%A4":            "/files/%C3%A4",
		"100%25":            "/files/100%25",
	} {
		r := filtertest.NewRequest("GET", "/dl?f="+q, "203.0.113.7")
		if v := r.Run(tr); v != filters.Continue {
			t.Fatalf("f=%s: verdict %v", q, v)
		}
		if got := requestLine(r); !strings.HasPrefix(got, want+"?") || strings.ContainsAny(got, " #") {
			t.Errorf("f=%s: request line %q, want path %q", q, got, want)
		}
		if got := string(r.RC.Request.URI().RequestURI()); !strings.HasPrefix(got, want+"?") {
			t.Errorf("f=%s: URI %q", q, got)
		}
	}
	// Values that would make or remove a segment, or hold what no header
	// may hold, answer 500 like a missing value, with a message that says so.
	for _, q := range []string{".", "..", "a%0d%0aX-Admin:%201", "a%00b", "%ff%fe", "a%E2%80%A8b"} {
		r := filtertest.NewRequest("GET", "/dl?f="+q, "203.0.113.7")
		if v := r.Run(tr); v != filters.Respond || r.RC.Response.StatusCode() != 500 {
			t.Fatalf("f=%s: verdict %v status %d, request line %q", q, v, r.RC.Response.StatusCode(), requestLine(r))
		}
		if body := string(r.RC.Response.Body()); !strings.Contains(body, `"message":"An unexpected error occurred: cannot build the upstream path from an invalid value"`) {
			t.Errorf("f=%s: body %s", q, body)
		}
		if r.Ctx.RejectReason != "transform_invalid_value" {
			t.Errorf("f=%s: reason %q", q, r.Ctx.RejectReason)
		}
	}
	for _, q := range []string{"", "%20%20"} {
		r := filtertest.NewRequest("GET", "/dl?f="+q, "203.0.113.7")
		if v := r.Run(tr); v != filters.Respond || r.RC.Response.StatusCode() != 500 ||
			!strings.Contains(string(r.RC.Response.Body()), `"message":"An unexpected error occurred"`) {
			t.Fatalf("f=%q: verdict %v status %d body %s", q, v, r.RC.Response.StatusCode(), r.RC.Response.Body())
		}
	}
	if got := counter(env, `reason="uri"`); got != 8 {
		t.Errorf("uri errors counted %d, want 8", got)
	}
}

func TestURIClaimIsOneSegment(t *testing.T) {
	tr, _ := build(t, `
replace:
  uri: "/users/$(jwt.sub)/orders"
`)
	for sub, want := range map[string]string{
		`"../admin"`:           "/users/..%2Fadmin/orders",
		`"alice?admin=1"`:      "/users/alice%3Fadmin%3D1/orders",
		`"alice#frag"`:         "/users/alice%23frag/orders",
		`"..%2F..%2Fadmin"`:    "/users/..%252F..%252Fadmin/orders",
		`"..\\..\\admin"`:      "/users/..%5C..%5Cadmin/orders",
		`"alice;jsessionid=x"`: "/users/alice%3Bjsessionid%3Dx/orders",
		`"a b"`:                "/users/a%20b/orders",
		`["..","admin"]`:       "/users/..%2Cadmin/orders",
		`42`:                   "/users/42/orders",
	} {
		r := filtertest.NewRequest("GET", "/x?q=1", "203.0.113.7")
		r.Ctx.Claims = jsonClaims(`{"sub":` + sub + `}`)
		if v := r.Run(tr); v != filters.Continue {
			t.Fatalf("sub %s: verdict %v", sub, v)
		}
		if got := requestLine(r); got != want+"?q=1" {
			t.Errorf("sub %s: request line %q, want %q", sub, got, want+"?q=1")
		}
	}
	for _, sub := range []string{`".."`, `"."`, `{"a":"b"}`, `"a\u2028b"`} {
		r := filtertest.NewRequest("GET", "/x", "203.0.113.7")
		r.Ctx.Claims = jsonClaims(`{"sub":` + sub + `}`)
		if v := r.Run(tr); v != filters.Respond || r.RC.Response.StatusCode() != 500 {
			t.Errorf("sub %s: verdict %v, request line %q", sub, v, requestLine(r))
		}
	}
	// A value next to a literal dot cannot make a dot segment either.
	tr, _ = build(t, `
replace:
  uri: "/a/.$(query.f)/b"
`)
	r := filtertest.NewRequest("GET", "/x?f=.", "203.0.113.7")
	if v := r.Run(tr); v != filters.Respond || r.RC.Response.StatusCode() != 500 {
		t.Errorf("/a/.$(query.f) with f=.: verdict %v, request line %q", v, requestLine(r))
	}
}

func TestHeaderValueRules(t *testing.T) {
	tr, env := build(t, `
add:
  headers: ["X-User-ID:$(jwt.sub)", "X-User-Roles:$(jwt.roles)"]
  querystring: ["uid:$(jwt.sub)"]
`)
	type want struct{ id, roles, uid string } // "" = not sent
	for claims, w := range map[string]want{
		`{"sub":"alice","roles":["a","b","c"]}`:   {"alice", "a,b,c", "alice"},
		`{"sub":12345,"roles":["admin"]}`:         {"12345", "admin", "12345"},
		`{"sub":["alice","admin"]}`:               {"alice,admin", "", "alice,admin"},
		`{"sub":"alice","roles":["a,b","c"]}`:     {"alice", "", "alice"},
		`{"sub":{"a":"b"},"roles":[["admin"]]}`:   {},
		`{"sub":"alice","roles":[{"r":"admin"}]}`: {"alice", "", "alice"},
		`{"sub":"   "}`:                           {},
		`{"sub":"alice\u0085X-Admin: 1"}`:         {},
		`{"sub":"alice\u2028X-Admin: 1"}`:         {},
		`{"sub":"alice\u2029"}`:                   {},
		`{"sub":"\u00e5lice\u202e"}`:              {},
		`{"sub":"a\u2067b"}`:                      {},
		`{"sub":"\ud800x"}`:                       {},
	} {
		r := filtertest.NewRequest("GET", "/?uid=client", "203.0.113.7")
		r.RC.Request.Header.Set("X-User-ID", "client")
		r.Ctx.Claims = jsonClaims(claims)
		r.Run(tr)
		got := want{strings.Join(values(r, "X-User-ID"), "|"), strings.Join(values(r, "X-User-Roles"), "|"),
			string(r.RC.Request.URI().QueryArgs().Peek("uid"))}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", claims, got, w)
		}
		if n := r.RC.Request.URI().QueryArgs().Len(); w.uid == "" && n != 0 {
			t.Errorf("%s: query %q", claims, r.RC.Request.URI().QueryArgs().QueryString())
		}
	}
	if got := counter(env, `reason="invalid_value"`); got == 0 {
		t.Error("invalid values not counted")
	}
}

func TestConfigRejectsUnsafeLiterals(t *testing.T) {
	for yaml, want := range map[string]string{
		"replace:\n  uri: \"/a/../$(jwt.sub)\"\n":           `must not contain "." or ".." segments`,
		"replace:\n  uri: \"/a/./b\"\n":                     `must not contain "." or ".." segments`,
		"replace:\n  uri: \"/a\\u2028/$(jwt.sub)\"\n":       "control characters",
		"add:\n  headers: [\"X-A:a\\u202e$(jwt.sub)\"]\n":   "control characters",
		"add:\n  headers: [\"X-A:a\\u0085b\"]\n":            "control characters",
		"add:\n  querystring: [\"a:x\\u0007$(jwt.sub)\"]\n": "control characters",
	} {
		_, err := buildErr(t, yaml)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", yaml, err, want)
		}
	}
}

// TestConsumerHeadersBound: the jwt plugin's X-Consumer-* headers are bound
// by the token, so a captured token does not carry an added or changed one.
func TestConsumerHeadersBound(t *testing.T) {
	p, pub := keyFile(t)
	tr, _ := build(t, identityConfig(p))
	v, err := verify.New(verify.Config{PublicKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	// As the jwt plugin leaves it: consumer set, its headers set.
	r := filtertest.NewRequest("GET", "/orders/7", "203.0.113.7")
	r.Ctx.Claims = fakeClaims{"sub": "alice"}
	r.Ctx.Consumer = &filters.Consumer{ID: "c-1", Username: "alice"}
	r.Ctx.Credential = "iss-1"
	r.RC.Request.Header.Set("X-Consumer-ID", "c-1")
	r.RC.Request.Header.Set("X-Consumer-Username", "alice")
	r.RC.Request.Header.Set("X-Credential-Identifier", "iss-1")
	r.Run(tr)
	tok := []byte(values(r, "X-Gateway-Identity")[0])
	if _, err := v.Verify(tok, "GET", "/orders/7", httpHeader(r)); err != nil {
		t.Fatal(err)
	}
	for name, val := range map[string]string{"X-Consumer-Username": "admin", "X-Consumer-Custom-ID": "root",
		"X-Anonymous-Consumer": "true", "X-Credential-Identifier": "other"} {
		h := httpHeader(r)
		h.Set(name, val)
		if _, err := v.Verify(tok, "GET", "/orders/7", h); !errors.Is(err, verify.ErrHeaders) {
			t.Errorf("replay with %s: %s: %v", name, val, err)
		}
	}
	h := httpHeader(r)
	h.Add("X-Consumer-Username", "admin")
	if _, err := v.Verify(tok, "GET", "/orders/7", h); !errors.Is(err, verify.ErrHeaders) {
		t.Errorf("replay with a second X-Consumer-Username: %v", err)
	}

	// No consumer and no credential: no authentication plugin set them, so
	// a client's copies are removed rather than signed.
	r = filtertest.NewRequest("GET", "/orders/7", "203.0.113.7")
	r.RC.Request.Header.Set("X-Consumer-Username", "admin")
	r.RC.Request.Header.Set("X-Anonymous-Consumer", "false")
	r.Run(tr)
	if got := values(r, "X-Consumer-Username"); len(got) != 0 {
		t.Errorf("client X-Consumer-Username forwarded: %q", got)
	}
	id, err := v.Verify([]byte(values(r, "X-Gateway-Identity")[0]), "GET", "/orders/7", httpHeader(r))
	if err != nil {
		t.Fatal(err)
	}
	if vals, ok := id.Headers["x-consumer-username"]; !ok || len(vals) != 0 {
		t.Errorf("x-consumer-username bound as %q (present %v)", vals, ok)
	}
}

// TestQueryValuesEncoded: a query value is one encoded argument; it cannot
// add arguments or a fragment.
func TestQueryValuesEncoded(t *testing.T) {
	tr, _ := build(t, `
add:
  querystring: ["uid:$(jwt.sub)"]
`)
	r := filtertest.NewRequest("GET", "/x?a=1", "203.0.113.7")
	r.Ctx.Claims = fakeClaims{"sub": "alice&admin=1#x y"}
	r.Run(tr)
	if got := requestLine(r); got != "/x?a=1&uid=alice%26admin%3D1%23x+y" {
		t.Errorf("request line %q", got)
	}
}
