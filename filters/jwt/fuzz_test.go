package jwt

import (
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/jwt/jwttest"
)

// fuzzSecret and fuzzGood are the credential and the one token (exp far
// ahead) that FuzzAccess may see accepted; testdata/fuzz/FuzzAccess holds
// it and mutations of it as seeds.
const fuzzSecret = "fuzz-secret-fuzz-secret-fuzz-sec"

var fuzzGood = (&jwttest.Keys{Secret: []byte(fuzzSecret)}).SignRaw("HS256", `{"alg":"HS256","typ":"JWT"}`,
	`{"iss":"fuzz","sub":"u","aud":["api"],"exp":4102444800,"roles":["a","b"]}`)

// FuzzAccess runs arbitrary Authorization values through the filter: it
// must never panic, must always answer (Continue or a 401 with a JSON
// body), and must accept nothing but the one genuine token, whatever the
// mutation (no malleable encodings, no alg tricks).
func FuzzAccess(f *testing.F) {
	f.Add("Bearer " + fuzzGood)
	f.Add("bearer " + fuzzGood + "x")
	env := filtertest.Env(f)
	env.Consumers["fz"] = &filters.Consumer{ID: "1", Username: "fz",
		JWTSecrets: []filters.JWTCredential{{Key: "fuzz", Secret: fuzzSecret}}}
	flt := filtertest.MustBuild(f, env, "jwt", "audience: [api]\nrequired_claims: [sub]\ntoken_cache: {size: 0}").(*Filter)
	f.Cleanup(func() { flt.Close() })
	r := filtertest.NewRequest("GET", "/", "203.0.113.7")
	r.RC.Request.Header.Set("Authorization", "Bearer "+fuzzGood)
	if r.Run(flt) != filters.Continue {
		f.Fatalf("the genuine token is rejected: %s", r.RC.Response.Body())
	}
	f.Fuzz(func(t *testing.T, auth string) {
		r.Reset()
		r.RC.Request.Header.Set("Authorization", auth)
		got := string(r.RC.Request.Header.Peek("Authorization")) // as fasthttp stores it
		switch r.Run(flt) {
		case filters.Continue:
			if tok := bearer([]byte(got)); string(tok) != fuzzGood {
				t.Fatalf("accepted %q", auth)
			}
			if v, ok := r.Ctx.Claims.AppendClaim(nil, "roles"); !ok || string(v) != "a,b" {
				t.Fatalf("claims %q", v)
			}
		case filters.Respond:
			if r.RC.Response.StatusCode() != 401 || len(r.RC.Response.Body()) == 0 || r.RC.Response.Body()[0] != '{' {
				t.Fatalf("status %d body %q", r.RC.Response.StatusCode(), r.RC.Response.Body())
			}
		default:
			t.Fatal("unexpected verdict")
		}
	})
}
