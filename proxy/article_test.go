package proxy

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters/jwt/jwttest"
)

// TestArticleAuthAndIdentity plays the article's "Authentication at the
// Gateway" section through the real listener: jwt with claims_to_verify exp,
// and request-transformer adding X-User-ID/X-User-Email/X-User-Roles from
// the verified claims, with client-sent copies never reaching the backend.
func TestArticleAuthAndIdentity(t *testing.T) {
	keys := jwttest.NewKeys()
	secret := base64.StdEncoding.EncodeToString(keys.Secret)
	b := startBackend(t, "api")
	g := startGateway(t, `
consumers:
  - username: alice
    jwt_secrets: [{key: "https://issuer.example", algorithm: HS256, secret: "`+secret+`"}]
services: [{name: api, targets: ["@B1@"]}]
routes:
  - {name: api, hosts: ["api.example.com"], paths: ["/"], service: api, plugins: [jwt-auth, request-transformer]}
plugins:
  - name: jwt-auth
    plugin: jwt
    config:
      uri_param_names: []
      cookie_names: []
      header_names: [Authorization]
      claims_to_verify: [exp]
      secret_is_base64: true
  - name: request-transformer
    plugin: request-transformer
    config:
      add:
        headers:
          - "X-User-ID:$(jwt.sub)"
          - "X-User-Email:$(jwt.email)"
          - "X-User-Roles:$(jwt.roles)"
`, b)
	host := map[string]string{"Host": "api.example.com"}
	good := keys.Sign("HS256", "", map[string]any{"iss": "https://issuer.example", "sub": "user-42", "email": "u42@example.com",
		"roles": []string{"reader", "writer"}, "exp": time.Now().Add(time.Hour).Unix()})
	hdr := map[string]string{"Host": "api.example.com", "Authorization": "Bearer " + good, "X-User-ID": "admin", "X-User-Roles": "superuser"}
	r := do(t, "GET", g.url+"/v1/items", hdr, nil)
	e := r.echo(t)
	if r.status != 200 || e.Headers["X-User-Id"] != "user-42" || e.Headers["X-User-Email"] != "u42@example.com" || e.Headers["X-User-Roles"] != "reader,writer" {
		t.Fatalf("identity headers: %d %v", r.status, e.Headers)
	}
	// A token without email: the client's X-User-Email is still removed.
	noEmail := keys.Sign("HS256", "", map[string]any{"iss": "https://issuer.example", "sub": "user-7", "exp": time.Now().Add(time.Hour).Unix()})
	r = do(t, "GET", g.url+"/v1/items", map[string]string{"Host": "api.example.com", "Authorization": "Bearer " + noEmail, "X-User-Email": "ceo@example.com"}, nil)
	if e := r.echo(t); e.Headers["X-User-Id"] != "user-7" || e.Headers["X-User-Email"] != "" {
		t.Fatalf("absent claim: %v", e.Headers)
	}
	before := b.hits.Load()
	expired := keys.Sign("HS256", "", map[string]any{"iss": "https://issuer.example", "sub": "user-42", "exp": time.Now().Add(-time.Hour).Unix()})
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://issuer.example","sub":"admin"}`)) + "."
	tampered := good[:strings.LastIndexByte(good, '.')-2] + "xx" + good[strings.LastIndexByte(good, '.'):]
	for name, auth := range map[string]string{"none": "", "expired": "Bearer " + expired, "alg none": "Bearer " + none, "tampered": "Bearer " + tampered, "garbage": "Bearer abc"} {
		h := map[string]string{"Host": "api.example.com"}
		if auth != "" {
			h["Authorization"] = auth
		}
		r := do(t, "GET", g.url+"/v1/items", h, nil)
		if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: want 401 with WWW-Authenticate, got %d %s", name, r.status, r.body)
		}
	}
	if b.hits.Load() != before {
		t.Fatal("a rejected request reached the backend")
	}
	m := do(t, "GET", g.admin+"/metrics", nil, nil)
	if !strings.Contains(string(m.body), `edgeguard_rejections_total{route="api",plugin="jwt-auth"`) {
		t.Error("jwt rejections not in metrics")
	}
	_ = host
}
