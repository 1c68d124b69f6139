package transformer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/gatewayid/verify"
)

func keyFile(t testing.TB) (string, ed25519.PublicKey) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	p := filepath.Join(t.TempDir(), "gw.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, pub
}

func identityConfig(keyPath string) string {
	return articleConfig + `
gateway_identity:
  private_key_file: ` + keyPath + `
  ttl: 30s
  claims: [sub, email, roles]
`
}

// httpHeader converts the forwarded fasthttp request headers for the verifier.
func httpHeader(r *filtertest.Request) http.Header {
	h := http.Header{}
	for k, v := range r.RC.Request.Header.All() {
		h.Add(string(k), string(v))
	}
	return h
}

func TestGatewayIdentity(t *testing.T) {
	p, pub := keyFile(t)
	tr, _ := build(t, identityConfig(p))
	v, err := verify.New(verify.Config{PublicKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	r := filtertest.NewRequest("POST", "/orders?x=1", "203.0.113.7")
	r.RC.Request.Header.Set("X-Gateway-Identity", "forged")
	r.RC.Request.Header.Set("X-User-Email", "boss@example.com")
	r.Ctx.Claims = fakeClaims{"sub": "u-42", "roles": "admin,dev"}
	r.Ctx.Consumer = &filters.Consumer{ID: "c-1", Username: "alice"}
	r.Run(tr)
	toks := values(r, "X-Gateway-Identity")
	if len(toks) != 1 || toks[0] == "forged" {
		t.Fatalf("tokens %q", toks)
	}
	id, err := v.Verify([]byte(toks[0]), "POST", "/orders", httpHeader(r))
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject() != "u-42" || id.Claim("roles") != "admin,dev" || id.Consumer.Username != "alice" ||
		len(id.Headers) != 3+5 || // and the jwt plugin's 5 X-Consumer-* headers
		len(id.Headers["x-user-email"]) != 0 || id.Headers["x-user-roles"][0] != "admin,dev" {
		t.Fatalf("identity %+v", id)
	}
	// A backend receiving the client's spoofed email header alongside the
	// token rejects the request.
	h := httpHeader(r)
	h.Set("X-User-Email", "boss@example.com")
	if _, err := v.Verify([]byte(toks[0]), "POST", "/orders", h); err == nil {
		t.Fatal("spoofed header accepted")
	}
}

func TestGatewayIdentityAfterRewrite(t *testing.T) {
	tr, _ := build(t, `
http_method: PUT
replace:
  uri: /v2/users/$(jwt.sub)
gateway_identity:
  secret: 0123456789abcdef0123456789abcdef
  bind_headers: false
  consumer: false
`)
	v, _ := verify.New(verify.Config{Secrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}})
	r := filtertest.NewRequest("GET", "/me", "203.0.113.7")
	r.Ctx.Claims = fakeClaims{"sub": "u-42"}
	r.Ctx.Consumer = &filters.Consumer{Username: "alice"}
	r.Run(tr)
	id, err := v.Verify([]byte(values(r, "X-Gateway-Identity")[0]), "PUT", "/v2/users/u-42", http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	if id.Consumer != nil || id.Headers != nil || id.Subject() != "u-42" {
		t.Fatalf("identity %+v", id)
	}
}

// TestAccessZeroAllocs guards the request path: headers, query, method, uri
// and the identity token, for both algorithms.
func TestAccessZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	p, _ := keyFile(t)
	for name, cfg := range map[string]string{
		"headers": articleConfig,
		"all": `
http_method: POST
remove: {headers: [X-Debug], querystring: [debug]}
rename: {headers: ["X-Old:X-New"], querystring: ["old:new"]}
replace: {headers: ["X-Version:2"], querystring: ["page:1"], uri: "/u/$(jwt.sub)"}
add: {headers: ["X-User-ID:$(jwt.sub)", "X-Tier:$(consumer.tier)"], querystring: ["uid:$(jwt.sub)"]}
append: {headers: ["X-Via:$(client_ip)"], querystring: ["t:a"]}
`,
		"eddsa": identityConfig(p),
		"hs256": articleConfig + "gateway_identity: {secret: 0123456789abcdef0123456789abcdef, claims: [sub, email]}\n",
	} {
		tr, _ := build(t, cfg)
		r := filtertest.NewRequest("GET", "/orders?debug=1&old=2&page=3", "203.0.113.7")
		r.RC.Request.Header.Set("X-User-ID", "spoof")
		r.RC.Request.Header.Set("X-Old", "o")
		r.RC.Request.Header.Set("X-Version", "1")
		r.Ctx.Claims = fakeClaims{"sub": "u-42", "email": "a@example.com", "roles": "admin,dev"}
		r.Ctx.Consumer = &filters.Consumer{Username: "alice", Tier: "gold"}
		r.Run(tr)
		allocs := testing.AllocsPerRun(100, func() {
			// Give every operation something to do again.
			h := &r.RC.Request.Header
			h.Set("X-User-ID", "spoof")
			h.Set("X-Old", "o")
			h.Set("X-Debug", "1")
			q := r.RC.Request.URI().QueryArgs()
			q.Set("old", "2")
			q.Set("debug", "1")
			if tr.Access(&r.Ctx) != filters.Continue {
				t.Fatal("not continued")
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Access allocates %v times per request", name, allocs)
		}
	}
}

// TestConcurrent runs one transformer (with a signer) from many goroutines;
// run with -race.
func TestConcurrent(t *testing.T) {
	p, pub := keyFile(t)
	tr, _ := build(t, identityConfig(p))
	v, _ := verify.New(verify.Config{PublicKeys: []ed25519.PublicKey{pub}})
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			var err error
			for i := 0; i < 50 && err == nil; i++ {
				r := filtertest.NewRequest("GET", "/orders", "203.0.113.7")
				r.Ctx.Claims = fakeClaims{"sub": "u-42", "email": "a@example.com"}
				tr.Access(&r.Ctx)
				_, err = v.Verify([]byte(values(r, "X-Gateway-Identity")[0]), "GET", "/orders", httpHeader(r))
			}
			errs <- err
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
