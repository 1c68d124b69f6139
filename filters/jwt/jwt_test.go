package jwt

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/jwt/jwttest"
)

var keys = jwttest.Shared()

// testNow is the fixed clock of these tests.
var testNow = time.Unix(1_800_000_000, 0)

// testEnv has a consumer per algorithm (credential key "iss-<ALG>"), plus
// "anon" for anonymous access.
func testEnv(t testing.TB) *filters.Env {
	env := filtertest.Env(t)
	for _, alg := range jwttest.Algs {
		cred := filters.JWTCredential{Key: "iss-" + alg, Algorithm: alg}
		if strings.HasPrefix(alg, "HS") {
			cred.Secret = string(keys.Secret)
		} else {
			cred.RSAPublicKey = keys.PublicPEM(alg)
		}
		name := "user-" + strings.ToLower(alg)
		env.Consumers[name] = &filters.Consumer{ID: "id-" + name, Username: name, CustomID: "cid-" + name, Tier: "gold",
			JWTSecrets: []filters.JWTCredential{cred}}
	}
	env.Consumers["anon"] = &filters.Consumer{ID: "id-anon", Username: "anon"}
	return env
}

func build(t testing.TB, env *filters.Env, yaml string) *Filter {
	t.Helper()
	f := filtertest.MustBuild(t, env, "jwt", yaml).(*Filter)
	f.clock = func() time.Time { return testNow }
	t.Cleanup(func() { f.Close() })
	return f
}

// claims returns typical claims for alg's credential, valid at testNow.
func claims(alg string, extra ...any) map[string]any {
	m := map[string]any{"iss": "iss-" + alg, "sub": "u-1", "exp": testNow.Unix() + 600, "nbf": testNow.Unix() - 10}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(m, extra[i].(string))
		} else {
			m[extra[i].(string)] = extra[i+1]
		}
	}
	return m
}

type result struct {
	verdict filters.Verdict
	status  int
	body    string
	www     string
	ctx     *filters.Ctx
	req     *filtertest.Request
}

func run(f *Filter, token string, setup ...func(r *filtertest.Request)) result {
	r := filtertest.NewRequest("GET", "/api", "203.0.113.7")
	if token != "" {
		r.RC.Request.Header.Set("Authorization", "Bearer "+token)
	}
	for _, s := range setup {
		s(r)
	}
	v := r.Run(f)
	return result{v, r.RC.Response.StatusCode(), string(r.RC.Response.Body()),
		string(r.RC.Response.Header.Peek("WWW-Authenticate")), &r.Ctx, r}
}

func (res result) wantOK(t *testing.T, what string) {
	t.Helper()
	if res.verdict != filters.Continue {
		t.Fatalf("%s: rejected %d %s (%s)", what, res.status, res.body, res.ctx.RejectReason)
	}
}

func (res result) want401(t *testing.T, what, body string) {
	t.Helper()
	if res.verdict != filters.Respond || res.status != 401 {
		t.Fatalf("%s: verdict %v status %d, want 401", what, res.verdict, res.status)
	}
	if body != "" && res.body != body {
		t.Errorf("%s: body %s, want %s", what, res.body, body)
	}
	if !strings.HasPrefix(res.www, "Bearer") {
		t.Errorf("%s: WWW-Authenticate %q", what, res.www)
	}
}

func TestGoodTokensEveryAlgorithm(t *testing.T) {
	f := build(t, testEnv(t), `claims_to_verify: [exp]`)
	for _, alg := range jwttest.Algs {
		tok := keys.Sign(alg, "", claims(alg, "roles", []string{"a", "b"}))
		res := run(f, tok)
		res.wantOK(t, alg)
		name := "user-" + strings.ToLower(alg)
		if res.ctx.Consumer == nil || res.ctx.Consumer.Username != name || res.ctx.Credential != "iss-"+alg {
			t.Errorf("%s: consumer %+v credential %q", alg, res.ctx.Consumer, res.ctx.Credential)
		}
		h := &res.req.RC.Request.Header
		for k, v := range map[string]string{hdrConsumerID: "id-" + name, hdrUsername: name, hdrCustomID: "cid-" + name, hdrCredential: "iss-" + alg, hdrAnonymous: ""} {
			if got := string(h.Peek(k)); got != v {
				t.Errorf("%s: %s = %q, want %q", alg, k, got, v)
			}
		}
		if v, ok := res.ctx.Claims.AppendClaim(nil, "roles"); !ok || string(v) != "a,b" {
			t.Errorf("%s: roles claim %q %v", alg, v, ok)
		}
	}
}

func TestAttackTable(t *testing.T) {
	env := testEnv(t)
	f := build(t, env, `
claims_to_verify: [exp]
audience: [api]
allowed_issuers: [iss-HS256, iss-RS256, iss-ES256]
required_claims: [sub]
`)
	good := func(alg string, extra ...any) map[string]any {
		return claims(alg, append([]any{"aud", "api"}, extra...)...)
	}
	goodHS := keys.Sign("HS256", "", good("HS256"))
	if res := run(f, goodHS); res.verdict != filters.Continue {
		t.Fatalf("baseline rejected: %s", res.body)
	}
	parts := strings.Split(goodHS, ".")
	payload, _ := json.Marshal(good("RS256"))
	rsaPEM := keys.PublicPEM("RS256")
	hsWith := func(secret []byte, header, body string) string {
		k := &jwttest.Keys{Secret: secret}
		return k.SignRaw("HS256", header, body)
	}
	other := jwttest.NewKeys()
	msg := func(m string) string { return `{"message":"` + m + `"}` }
	cases := []struct {
		name, token, body string
	}{
		{"alg none", jwttest.B64(`{"alg":"none"}`) + "." + jwttest.B64(string(payload)) + ".", msg("Bad token; invalid alg")},
		{"alg none, typ JWT", jwttest.B64(`{"typ":"JWT","alg":"none"}`) + "." + jwttest.B64(string(payload)) + ".", msg("Bad token; invalid alg")},
		{"alg none with signature", jwttest.B64(`{"alg":"none"}`) + "." + jwttest.B64(string(payload)) + ".AAAA", msg("Bad token; invalid alg")},
		{"alg NONE", jwttest.B64(`{"alg":"NONE"}`) + "." + jwttest.B64(string(payload)) + ".AAAA", msg("Bad token; invalid alg")},
		{"HS256 with the RSA public key as secret", hsWith([]byte(rsaPEM), `{"alg":"HS256"}`, string(payload)), msg("Invalid algorithm")},
		{"RS256 key, PS256 token", keys.Sign("PS256", "", good("RS256")), msg("Invalid algorithm")},
		{"RS256 key, RS512 token", keys.Sign("RS512", "", good("RS256")), msg("Invalid algorithm")},
		{"ES256 key, ES384 token", keys.Sign("ES384", "", good("ES256")), msg("Invalid algorithm")},
		{"signature of another key", other.Sign("RS256", "", good("RS256")), msg("Invalid signature")},
		{"HS256 other secret", other.Sign("HS256", "", good("HS256")), msg("Invalid signature")},
		{"tampered payload", parts[0] + "." + jwttest.B64(`{"iss":"iss-HS256","sub":"admin","aud":"api","exp":9999999999}`) + "." + parts[2], msg("Invalid signature")},
		{"signature stripped", parts[0] + "." + parts[1] + ".", msg("Bad token; invalid JWT")},
		{"unknown crit", keys.SignRaw("HS256", `{"alg":"HS256","crit":["x-ext"],"x-ext":1}`, string(must(json.Marshal(good("HS256"))))), msg("Bad token; invalid JWT")},
		{"b64 false", keys.SignRaw("HS256", `{"alg":"HS256","b64":false,"crit":["b64"]}`, `{}`), msg("Bad token; invalid JWT")},
		{"kid a number", keys.SignRaw("HS256", `{"alg":"HS256","kid":7}`, string(payload)), msg("Bad token; invalid kid")},
		{"duplicate alg", keys.SignRaw("HS256", `{"alg":"HS256","alg":"HS256"}`, `{}`), msg("Bad token; invalid JSON")},
		{"duplicate exp claim", keys.SignRaw("HS256", `{"alg":"HS256"}`, `{"iss":"iss-HS256","aud":"api","sub":"x","exp":1,"exp":9999999999}`), msg("Bad token; invalid JSON")},
		{"escaped duplicate iss", keys.SignRaw("HS256", `{"alg":"HS256"}`, `{"iss":"iss-HS256","\u0069ss":"iss-RS256","aud":"api","sub":"x"}`), msg("Bad token; invalid JSON")},
		{"payload not JSON", keys.SignRaw("HS256", `{"alg":"HS256"}`, `not json`), msg("Bad token; invalid JSON")},
		{"payload array", keys.SignRaw("HS256", `{"alg":"HS256"}`, `["iss-HS256"]`), msg("Bad token; invalid JSON")},
		{"header not base64", "e!J." + parts[1] + "." + parts[2], msg("Bad token; invalid JWT")},
		{"padding", goodHS + "=", msg("Bad token; invalid JWT")},
		{"oversized", keys.Sign("HS256", "", good("HS256", "pad", strings.Repeat("x", 9000))), msg("Bad token; invalid JWT")},
		{"typ JWE", keys.SignRaw("HS256", `{"alg":"HS256","typ":"JWE"}`, `{}`), msg("Bad token; invalid typ")},
		{"no iss", keys.Sign("HS256", "", good("HS256", "iss", nil)), msg("No mandatory 'iss' in claims")},
		{"iss not a string", keys.Sign("HS256", "", good("HS256", "iss", 7)), msg("Invalid 'iss' in claims")},
		{"unknown iss", keys.Sign("HS256", "", good("HS256", "iss", "nobody")), msg("No credentials found for given 'iss'")},
		{"expired", keys.Sign("HS256", "", good("HS256", "exp", testNow.Unix()-60)), `{"exp":"token expired"}`},
		{"not yet valid", keys.Sign("HS256", "", good("HS256", "nbf", testNow.Unix()+60)), `{"nbf":"token not valid yet"}`},
		{"exp missing (listed)", keys.Sign("HS256", "", good("HS256", "exp", nil)), `{"exp":"must be a number"}`},
		{"exp a string", keys.Sign("HS256", "", good("HS256", "exp", "9999999999")), `{"exp":"must be a number"}`},
		{"nbf a string", keys.Sign("HS256", "", good("HS256", "nbf", "0")), `{"nbf":"must be a number"}`},
		{"exp and nbf bad", keys.Sign("HS256", "", good("HS256", "exp", testNow.Unix()-60, "nbf", testNow.Unix()+60)), `{"exp":"token expired","nbf":"token not valid yet"}`},
		{"wrong audience", keys.Sign("HS256", "", good("HS256", "aud", "other")), `{"aud":"invalid audience"}`},
		{"audience array without match", keys.Sign("HS256", "", good("HS256", "aud", []string{"x", "y"})), `{"aud":"invalid audience"}`},
		{"no audience", keys.Sign("HS256", "", good("HS256", "aud", nil)), `{"aud":"invalid audience"}`},
		{"issuer not allowed", keys.Sign("HS384", "", good("HS384")), `{"iss":"issuer not allowed"}`},
		{"required claim missing", keys.Sign("HS256", "", good("HS256", "sub", nil)), `{"sub":"required claim missing"}`},
		{"required claim null", keys.Sign("HS256", "", good("HS256", "sub", json.RawMessage("null"))), `{"sub":"required claim missing"}`},
	}
	for _, c := range cases {
		res := run(f, c.token)
		res.want401(t, c.name, c.body)
		if res.www != `Bearer error="invalid_token"` {
			t.Errorf("%s: WWW-Authenticate %q", c.name, res.www)
		}
		if res.ctx.Consumer != nil || res.ctx.Claims != nil || res.ctx.Credential != "" {
			t.Errorf("%s: identity set on rejection", c.name)
		}
		if strings.Contains(res.body, "u-1") || strings.Contains(res.body, "jose") {
			t.Errorf("%s: body leaks %s", c.name, res.body)
		}
	}
	// Accepted variants: audience in an array, iss allowed, bearer scheme case.
	for _, tok := range []string{
		keys.Sign("HS256", "", good("HS256", "aud", []string{"x", "api"})),
		keys.Sign("ES256", "", good("ES256")),
	} {
		run(f, tok).wantOK(t, "variant")
	}
}

func TestNoToken(t *testing.T) {
	f := build(t, testEnv(t), `realm: edge`)
	res := run(f, "")
	res.want401(t, "no token", `{"message":"Unauthorized"}`)
	if res.www != `Bearer realm="edge"` || res.ctx.RejectReason != "no_token" {
		t.Errorf("WWW-Authenticate %q reason %q", res.www, res.ctx.RejectReason)
	}
	res = run(f, "garbage")
	if res.www != `Bearer realm="edge", error="invalid_token"` {
		t.Errorf("with realm: %q", res.www)
	}
	if ct := string(res.req.RC.Response.Header.ContentType()); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
}

func TestLeewayAndClaimRules(t *testing.T) {
	env := testEnv(t)
	now := testNow.Unix()
	sign := func(extra ...any) string { return keys.Sign("HS256", "", claims("HS256", extra...)) }
	// Default: leeway 30s, exp and nbf checked when present, not required.
	f := build(t, env, `{}`)
	for name, c := range map[string]struct {
		tok string
		ok  bool
	}{
		"no exp, not listed":       {sign("exp", nil), true},
		"no nbf":                   {sign("nbf", nil), true},
		"expired 10s ago (leeway)": {sign("exp", now-10), true},
		"expired 30s ago":          {sign("exp", now-30), false},
		"exp == now - 29":          {sign("exp", now-29), true},
		"nbf 20s ahead (leeway)":   {sign("nbf", now+20), true},
		"nbf 31s ahead":            {sign("nbf", now+31), false},
		"fractional exp":           {sign("exp", float64(now-30)+0.5), true},
		"exp huge float":           {sign("exp", 1e300), false},
		"exp a string":             {sign("exp", "x"), false},
		"exp null":                 {sign("exp", json.RawMessage("null")), false},
	} {
		res := run(f, c.tok)
		if (res.verdict == filters.Continue) != c.ok {
			t.Errorf("%s: verdict %v body %s", name, res.verdict, res.body)
		}
	}
	// Kong's exact semantics with leeway 0; listing makes them required.
	f = build(t, env, "leeway: 0\nclaims_to_verify: [nbf, exp]\nmaximum_expiration: 3600")
	for name, c := range map[string]struct {
		tok  string
		body string
	}{
		"exp == now":       {sign("exp", now), `{"exp":"token expired"}`},
		"nbf == now + 1":   {sign("nbf", now+1), `{"nbf":"token not valid yet"}`},
		"no nbf (listed)":  {sign("nbf", nil), `{"nbf":"must be a number"}`},
		"both missing":     {sign("nbf", nil, "exp", nil), `{"nbf":"must be a number","exp":"must be a number"}`},
		"exp too far":      {sign("exp", now+3601), `{"exp":"exceeds maximum allowed expiration"}`},
		"exp at max is ok": {sign("exp", now+3600), ""},
	} {
		res := run(f, c.tok)
		if c.body == "" {
			res.wantOK(t, name)
			continue
		}
		res.want401(t, name, c.body)
	}
	// maximum_expiration without exp listed still requires exp (Kong rejects
	// that config; edgeguard treats it as implied).
	f = build(t, env, "maximum_expiration: 60")
	run(f, sign("exp", nil)).want401(t, "max exp without exp", `{"exp":"exceeds maximum allowed expiration"}`)
}

func TestTokenSources(t *testing.T) {
	env := testEnv(t)
	tok := keys.Sign("HS256", "", claims("HS256"))
	tok2 := keys.Sign("HS384", "", claims("HS384"))
	f := build(t, env, `
header_names: [authorization, x-token]
cookie_names: [session]
uri_param_names: [jwt, access_token]
`)
	hdr := func(k, v string) func(r *filtertest.Request) {
		return func(r *filtertest.Request) { r.RC.Request.Header.Add(k, v) }
	}
	uri := func(u string) func(r *filtertest.Request) {
		return func(r *filtertest.Request) { r.RC.Request.SetRequestURI(u) }
	}
	cookie := func(v string) func(r *filtertest.Request) {
		return func(r *filtertest.Request) { r.RC.Request.Header.SetCookie("session", v) }
	}
	ok := map[string][]func(r *filtertest.Request){
		"bearer":                  {hdr("Authorization", "Bearer "+tok)},
		"BEARER":                  {hdr("Authorization", "BEARER "+tok)},
		"bEaReR tabs":             {hdr("Authorization", " \tbEaReR\t"+tok+" ")},
		"other header":            {hdr("X-Token", "Bearer "+tok)},
		"cookie":                  {cookie(tok)},
		"query jwt":               {uri("/api?jwt=" + tok)},
		"query access_token":      {uri("/api?x=1&access_token=" + tok)},
		"same token twice":        {hdr("Authorization", "Bearer "+tok), uri("/api?jwt=" + tok), cookie(tok)},
		"empty query value":       {hdr("Authorization", "Bearer "+tok), uri("/api?jwt=")},
		"bare token ignored":      {hdr("X-Token", tok), cookie(tok)},
		"basic auth ignored":      {hdr("Authorization", "Basic dXNlcjpwYXNz"), cookie(tok)},
		"bearer without a token":  {hdr("Authorization", "Bearer "), cookie(tok)},
		"bearerx is not a scheme": {hdr("Authorization", "Bearerx "+tok2), cookie(tok)},
		"same cookie twice":       {hdr("Cookie", "session="+tok+"; session="+tok)},
		"empty cookie first":      {hdr("Cookie", "session=; session="+tok)},
		"other cookie names":      {hdr("Cookie", "jwt="+tok2+"; session="+tok)},
	}
	for name, setup := range ok {
		run(f, "", setup...).wantOK(t, name)
	}
	multi := map[string][]func(r *filtertest.Request){
		"header and query": {hdr("Authorization", "Bearer "+tok), uri("/api?jwt=" + tok2)},
		"two headers":      {hdr("Authorization", "Bearer "+tok), hdr("Authorization", "Bearer "+tok2)},
		"two query params": {uri("/api?jwt=" + tok + "&jwt=" + tok2)},
		"cookie and x":     {cookie(tok), hdr("X-Token", "Bearer "+tok2)},
		// Cookie(name) returns the first only: either order must be refused.
		"two cookies":         {hdr("Cookie", "session="+tok+"; session="+tok2)},
		"two cookies swapped": {hdr("Cookie", "session="+tok2+"; session="+tok)},
		"two Cookie lines":    {hdr("Cookie", "session="+tok), hdr("Cookie", "session="+tok2)},
	}
	for name, setup := range multi {
		res := run(f, "", setup...)
		res.want401(t, name, `{"message":"Multiple tokens provided"}`)
		if res.www != `Bearer error="invalid_token"` {
			t.Errorf("%s: %q", name, res.www)
		}
	}
	// Kong's default reads ?jwt=; an explicit [] turns URL tokens off.
	f = build(t, env, `uri_param_names: []`)
	run(f, "", uri("/api?jwt="+tok)).want401(t, "uri params off", `{"message":"Unauthorized"}`)
	f = build(t, env, `{}`)
	run(f, "", uri("/api?jwt="+tok)).wantOK(t, "default uri param")
}

func TestIdentityHeadersAlwaysStripped(t *testing.T) {
	env := testEnv(t)
	identityHeaders := []string{hdrConsumerID, hdrCustomID, hdrUsername, hdrCredential, hdrAnonymous}
	spoof := func(r *filtertest.Request) {
		for _, h := range identityHeaders {
			r.RC.Request.Header.Set(h, "spoofed")
		}
	}
	check := func(name string, res result, want map[string]string) {
		t.Helper()
		for _, h := range identityHeaders {
			got := string(res.req.RC.Request.Header.Peek(h))
			if got != want[h] {
				t.Errorf("%s: %s = %q, want %q", name, h, got, want[h])
			}
		}
	}
	f := build(t, env, `run_on_preflight: false`)
	check("rejected", run(f, "bad", spoof), nil)
	check("no token", run(f, "", spoof), nil)
	res := run(f, "", spoof, func(r *filtertest.Request) { r.RC.Request.Header.SetMethod("OPTIONS") })
	res.wantOK(t, "preflight")
	check("preflight", res, nil)
	// A JWKS-less credential of a consumer without custom id.
	env.Consumers["user-hs256"].CustomID = ""
	f = build(t, env, `{}`)
	res = run(f, keys.Sign("HS256", "", claims("HS256")), spoof)
	res.wantOK(t, "success")
	check("success", res, map[string]string{hdrConsumerID: "id-user-hs256", hdrUsername: "user-hs256", hdrCredential: "iss-HS256"})
	// Cache hit: same again.
	res = run(f, keys.Sign("HS256", "", claims("HS256")), spoof)
	check("success", res, map[string]string{hdrConsumerID: "id-user-hs256", hdrUsername: "user-hs256", hdrCredential: "iss-HS256"})
}

func TestAnonymous(t *testing.T) {
	env := testEnv(t)
	f := build(t, env, `anonymous: anon`)
	res := run(f, "")
	res.wantOK(t, "anonymous")
	if res.ctx.Consumer == nil || res.ctx.Consumer.Username != "anon" || res.ctx.Credential != "" || res.ctx.Claims != nil {
		t.Errorf("anonymous ctx %+v", res.ctx.Consumer)
	}
	if got := string(res.req.RC.Request.Header.Peek(hdrAnonymous)); got != "true" {
		t.Errorf("X-Anonymous-Consumer %q", got)
	}
	if got := string(res.req.RC.Request.Header.Peek(hdrConsumerID)); got != "id-anon" {
		t.Errorf("X-Consumer-ID %q", got)
	}
	// An invalid token is still rejected (Kong would fall back to anonymous).
	run(f, keys.Sign("HS256", "", claims("HS256", "exp", testNow.Unix()-3600))).want401(t, "expired with anonymous", `{"exp":"token expired"}`)
	// By id, too.
	build(t, env, `anonymous: id-anon`)
	// Already authenticated by an earlier plugin: skipped.
	res = run(f, "garbage", func(r *filtertest.Request) { r.Ctx.Credential = "key-auth-cred" })
	res.wantOK(t, "already authenticated")
}

func TestConfigErrors(t *testing.T) {
	env := testEnv(t)
	env.Consumers["weak"] = &filters.Consumer{Username: "weak", JWTSecrets: []filters.JWTCredential{{Key: "weak-key", Secret: "short"}}}
	_, err := filtertest.Build(env, "jwt", `{}`)
	if err == nil || !strings.Contains(err.Error(), `consumer "weak" credential "weak-key": HS256 secret is 5 bytes; RFC 7518 §3.2 requires at least 32`) {
		t.Errorf("short secret: %v", err)
	}
	delete(env.Consumers, "weak")
	cases := map[string]string{
		`claims_to_verify: [iat]`:                                 `claims_to_verify[0]: must be "exp" or "nbf"`,
		`maximum_expiration: -1`:                                  "maximum_expiration: must be between 0 and 31536000",
		`anonymous: nobody`:                                       `anonymous: no consumer "nobody"`,
		`leeway: 10m`:                                             "leeway: must be at most 5m",
		`leeway: soon`:                                            `is not a duration`,
		`realm: 'a"b'`:                                            "realm: must not contain quotes",
		`header_names: ["x y"]`:                                   "header_names[0]: must be a non-empty name",
		`max_token_size: 1m`:                                      "max_token_size: must be between",
		`claims_to_verfy: [exp]`:                                  "unknown field",
		`issuers: [{issuer: "http://idp.example"}]`:               "must use https",
		`issuers: [{issuer: x, jwks_uri: "ftp://x/"}]`:            "jwks_uri",
		`issuers: [{issuer: "https://a", algorithms: [HS256]}]`:   "algorithms[0]",
		`issuers: [{issuer: "https://a"}, {issuer: "https://a"}]`: "listed twice",
		`issuers: [{issuer: "https://a", consumer: nobody}]`:      `no consumer "nobody"`,
		`token_cache: {size: 1k}`:                                 "token_cache.size: must be 0 (off) or at least 1MiB",
		`jwks: {unknown_kid_interval: 0.01}`:                      "unknown_kid_interval: must be at least 100ms",
		`jwks: {min_refresh: 1h, max_refresh: 1m}`:                "max_refresh: must not be below min_refresh",
	}
	for yaml, want := range cases {
		_, err := filtertest.Build(env, "jwt", yaml)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", yaml, err, want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "test.yaml:") {
			t.Errorf("%s: error without position: %v", yaml, err)
		}
	}
	// A PEM of the wrong kind for the algorithm.
	env.Consumers["x"] = &filters.Consumer{Username: "x", JWTSecrets: []filters.JWTCredential{{Key: "k", Algorithm: "ES256", RSAPublicKey: keys.PublicPEM("RS256")}}}
	if _, err := filtertest.Build(env, "jwt", `{}`); err == nil || !strings.Contains(err.Error(), "key type does not match") {
		t.Errorf("wrong PEM: %v", err)
	}
	env.Consumers["x"].JWTSecrets[0] = filters.JWTCredential{Key: "iss-HS256", Secret: string(keys.Secret)}
	if _, err := filtertest.Build(env, "jwt", `{}`); err == nil || !strings.Contains(err.Error(), "keys must be unique") {
		t.Errorf("duplicate key: %v", err)
	}
}

func TestSecretIsBase64(t *testing.T) {
	env := filtertest.Env(t)
	secret := []byte(strings.Repeat("\xfe", 40))
	env.Consumers["b"] = &filters.Consumer{Username: "b", JWTSecrets: []filters.JWTCredential{{Key: "kb", Secret: base64.StdEncoding.EncodeToString(secret)}}}
	f := build(t, env, `secret_is_base64: true`)
	k := &jwttest.Keys{Secret: secret}
	run(f, k.Sign("HS256", "", map[string]any{"iss": "kb"})).wantOK(t, "base64 secret")
}

func TestKeyClaimName(t *testing.T) {
	env := testEnv(t)
	f := build(t, env, `key_claim_name: kid`)
	// kid in the header (Kong falls back to the header).
	run(f, keys.Sign("RS256", "iss-RS256", map[string]any{"sub": "x"})).wantOK(t, "kid header")
	// kid claim wins over the header.
	run(f, keys.Sign("RS256", "nobody", map[string]any{"kid": "iss-RS256"})).wantOK(t, "kid claim")
	run(f, keys.Sign("RS256", "", map[string]any{"sub": "x"})).want401(t, "no kid", `{"message":"No mandatory 'kid' in claims"}`)
}

func TestClaimsAccess(t *testing.T) {
	f := build(t, testEnv(t), `{}`)
	tok := keys.Sign("ES256", "", claims("ES256", "email", "a@example.com", "realm_access", map[string]any{"roles": []string{"r1", "r2"}},
		"https://example.com/tier", "gold", "n", 42))
	for i := 0; i < 2; i++ { // miss, then hit
		res := run(f, tok)
		res.wantOK(t, "claims")
		cl := res.ctx.Claims
		for path, want := range map[string]string{"sub": "u-1", "email": "a@example.com", "realm_access.roles": "r1,r2", "https://example.com/tier": "gold", "n": "42"} {
			if v, ok := cl.AppendClaim([]byte("x="), path); !ok || string(v) != "x="+want {
				t.Errorf("%s: %q %v", path, v, ok)
			}
		}
		if v, ok := cl.AppendClaim(nil, "missing"); ok || len(v) != 0 {
			t.Errorf("missing claim: %q %v", v, ok)
		}
	}
}

func TestCache(t *testing.T) {
	env := testEnv(t)
	f := build(t, env, `{}`)
	tok := keys.Sign("RS256", "", claims("RS256"))
	run(f, tok).wantOK(t, "first")
	f.cache.c.Wait()
	if f.cache.get([]byte(tok)) == nil {
		t.Fatal("not cached")
	}
	hits := f.hits.Get()
	res := run(f, tok)
	res.wantOK(t, "hit")
	if f.hits.Get() != hits+1 {
		t.Error("second request was not a cache hit")
	}
	if res.ctx.Consumer.Username != "user-rs256" {
		t.Error("hit lost the consumer")
	}
	// The entry expires with the token: the clock moves past exp+leeway.
	f.clock = func() time.Time { return testNow.Add(700 * time.Second) }
	run(f, tok).want401(t, "expired after caching", `{"exp":"token expired"}`)
	f.clock = func() time.Time { return testNow }

	// Collisions are ruled out: an entry stored under this token's hash but
	// for another token is never returned.
	other := keys.Sign("HS256", "", claims("HS256"))
	run(f, other).wantOK(t, "other")
	f.cache.c.Wait()
	e := f.cache.get([]byte(other))
	f.cache.c.Set(hashOf(f, tok), e, 1)
	f.cache.c.Wait()
	if f.cache.get([]byte(tok)) != nil {
		t.Fatal("an entry for another token was returned")
	}
	res = run(f, tok)
	res.wantOK(t, "after collision")
	if res.ctx.Consumer.Username != "user-rs256" {
		t.Errorf("collision gave consumer %s", res.ctx.Consumer.Username)
	}

	// Disabled cache.
	f2 := build(t, env, `token_cache: {size: 0}`)
	run(f2, tok).wantOK(t, "no cache")
	run(f2, tok).wantOK(t, "no cache again")
	if f2.cache != nil {
		t.Error("cache not disabled")
	}
	// After Close, requests still work (without cache).
	f.Close()
	run(f, tok).wantOK(t, "after close")
}

func hashOf(f *Filter, tok string) uint64 {
	return hashBytes(f.cache, []byte(tok))
}

// TestCacheHitAllocs: the cache-hit path of Access allocates nothing.
func TestCacheHitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	f := build(t, testEnv(t), `{}`)
	tok := keys.Sign("RS256", "", claims("RS256"))
	r := filtertest.NewRequest("GET", "/api", "203.0.113.7")
	r.RC.Request.Header.Set("Authorization", "Bearer "+tok)
	if r.Run(f) != filters.Continue {
		t.Fatal("rejected")
	}
	f.cache.c.Wait()
	var buf []byte
	allocs := testing.AllocsPerRun(200, func() {
		r.Reset()
		if r.Run(f) != filters.Continue {
			t.Fatal("rejected")
		}
		buf, _ = r.Ctx.Claims.AppendClaim(buf[:0], "sub")
	})
	if allocs != 0 {
		t.Errorf("cache-hit Access allocates %v times per request", allocs)
	}
	tokB := []byte(tok)
	if a := testing.AllocsPerRun(200, func() { f.cache.get(tokB) }); a != 0 {
		t.Errorf("cache lookup allocates %v times", a)
	}
	// Nor does a token read from cookies (every cookie is looked at).
	fc := build(t, testEnv(t), `cookie_names: [session]`)
	rc := filtertest.NewRequest("GET", "/api", "203.0.113.7")
	rc.RC.Request.Header.Add("Cookie", "a=1; session="+tok+"; b=2")
	if rc.Run(fc) != filters.Continue {
		t.Fatal("cookie rejected")
	}
	fc.cache.c.Wait()
	if a := testing.AllocsPerRun(200, func() { rc.Reset(); rc.Run(fc) }); a != 0 {
		t.Errorf("cache-hit Access with a cookie token allocates %v times per request", a)
	}
	// The rejection paths allocate nothing either.
	r2 := filtertest.NewRequest("GET", "/api", "203.0.113.7")
	r2.RC.Request.Header.Set("Authorization", "Bearer not-a-token")
	if a := testing.AllocsPerRun(200, func() { r2.Reset(); r2.Run(f) }); a != 0 {
		t.Errorf("bad-token rejection allocates %v times", a)
	}
}

// provider is a JWKS endpoint on loopback.
type provider struct {
	srv  *httptest.Server
	mu   sync.Mutex
	body []byte
	down bool
	hits atomic.Int64
}

func newProvider(t *testing.T, body []byte) *provider {
	p := &provider{body: body}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		body, down := p.body, p.down
		p.mu.Unlock()
		if r.URL.Path == "/.well-known/openid-configuration" {
			w.Write([]byte(`{"issuer":"` + p.srv.URL + `","jwks_uri":"` + p.srv.URL + `/jwks"}`))
			return
		}
		p.hits.Add(1)
		if down {
			w.WriteHeader(503)
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) set(body []byte, down bool) {
	p.mu.Lock()
	p.body, p.down = body, down
	p.mu.Unlock()
}

func TestJWKSIssuer(t *testing.T) {
	env := testEnv(t)
	env.Consumers["app"] = &filters.Consumer{ID: "id-app", Username: "app"}
	env.Consumers["svc"] = &filters.Consumer{ID: "id-svc", Username: "svc"}
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "k1", true), keys.JWK("ES256", "k2", false)))
	yaml := `
issuers:
  - issuer: ` + p.srv.URL + `
    consumer: app
    consumer_claim: azp
jwks: {unknown_kid_interval: 0.2}
`
	f := build(t, env, yaml)
	iss := p.srv.URL
	c := func(extra ...any) map[string]any {
		m := map[string]any{"iss": iss, "sub": "u-9", "exp": testNow.Unix() + 600}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	res := run(f, keys.Sign("RS256", "k1", c()))
	res.wantOK(t, "RS256 via JWKS")
	if res.ctx.Consumer.Username != "app" || res.ctx.Credential != "k1" {
		t.Errorf("consumer %s credential %s", res.ctx.Consumer.Username, res.ctx.Credential)
	}
	res = run(f, keys.Sign("ES256", "k2", c("azp", "svc")))
	res.wantOK(t, "ES256 via JWKS with consumer_claim")
	if res.ctx.Consumer.Username != "svc" {
		t.Errorf("consumer_claim: %s", res.ctx.Consumer.Username)
	}
	run(f, keys.Sign("ES256", "k1", c())).want401(t, "kid of an RS256 key", `{"message":"Invalid algorithm"}`)
	run(f, keys.Sign("RS256", "", c())).want401(t, "no kid with two keys", `{"message":"No credentials found for given 'kid'"}`)
	// A JWKS issuer's tokens never fall back to consumer credentials, and
	// an HS256 token cannot use a published public key.
	run(f, keys.SignRaw("HS256", `{"alg":"HS256","kid":"k1"}`, `{"iss":"`+iss+`"}`)).want401(t, "HS256 with JWKS kid", `{"message":"Invalid algorithm"}`)

	// Rotation: a new kid is refused at once, then accepted after the
	// refetch it triggered.
	p.set(jwttest.JWKS(keys.JWK("RS256", "k1", true), keys.JWK("EdDSA", "k3", true)), false)
	newTok := keys.Sign("EdDSA", "k3", c())
	start := time.Now()
	run(f, newTok).want401(t, "new kid before refetch", `{"message":"No credentials found for given 'kid'"}`)
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("unknown kid took %v", d)
	}
	eventually(t, "rotation", func() bool { return run(f, newTok).verdict == filters.Continue })

	// The withdrawn k2 stops working, even for a token verified (cached)
	// before.
	es := keys.Sign("ES256", "k2", c())
	if run(f, es).verdict == filters.Continue {
		t.Fatal("k2 should be withdrawn already")
	}

	// Unknown-kid flood: fetches bounded by the interval.
	forged := jwttest.NewKeys()
	var flood []string
	for i := 0; i < 300; i++ {
		flood = append(flood, forged.Sign("ES256", "forged-"+strconv.Itoa(i), c()))
	}
	before := p.hits.Load()
	start = time.Now()
	for i := 0; i < 3000; i++ {
		run(f, flood[i%len(flood)]).want401(t, "forged kid", "")
	}
	elapsed := time.Since(start)
	if n, max := p.hits.Load()-before, int64(elapsed/(200*time.Millisecond))+2; n > max {
		t.Errorf("3000 forged-kid requests in %v caused %d fetches, want <= %d", elapsed, n, max)
	}

	// Provider down: known keys keep working, new tokens too.
	p.set(nil, true)
	run(f, forged.Sign("RS256", "forged-x", c())) // triggers a failing refetch
	time.Sleep(300 * time.Millisecond)
	run(f, keys.Sign("RS256", "k1", c("jti", "after-down"))).wantOK(t, "known key while provider down")

	// Reload: a second filter from the same env shares the key set; closing
	// the first keeps it running; closing the last stops it.
	p.set(jwttest.JWKS(keys.JWK("RS256", "k1", true)), false)
	f2 := build(t, env, yaml)
	if f2.issuers[0].set != f.issuers[0].set {
		t.Fatal("key set not shared across reloads")
	}
	f.Close()
	run(f2, keys.Sign("RS256", "k1", c("jti", "reloaded"))).wantOK(t, "after reload")
	if !f2.issuers[0].set.Running() {
		t.Error("key set stopped while the new config uses it")
	}
	f2.Close()
	if f2.issuers[0].set.Running() {
		t.Error("key set still running with no config using it")
	}
}

func TestJWKSDiscoveryAndAlgorithms(t *testing.T) {
	env := testEnv(t)
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "k1", false)))
	f := build(t, env, "issuers: [{issuer: \""+p.srv.URL+"\", algorithms: [PS256]}]")
	c := map[string]any{"iss": p.srv.URL, "exp": testNow.Unix() + 60}
	// The RSA key has no alg: bound to the first RSA algorithm listed.
	run(f, keys.Sign("PS256", "k1", c)).wantOK(t, "discovered, PS256")
	run(f, keys.Sign("RS256", "k1", c)).want401(t, "RS256 on a PS256 key", `{"message":"Invalid algorithm"}`)
	// Tokens of an issuer with no credential and not configured.
	run(f, keys.Sign("RS256", "k1", map[string]any{"iss": "https://other"})).want401(t, "other issuer", `{"message":"No credentials found for given 'iss'"}`)
}

// TestJWKSDuplicateKid: a key set in which two keys share a kid still
// loads (with its new keys); the token's alg picks among the kid's keys,
// and each key verifies only its own algorithm.
func TestJWKSDuplicateKid(t *testing.T) {
	env := testEnv(t)
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "k1", true)))
	f := build(t, env, "issuers: [{issuer: \""+p.srv.URL+"\"}]\njwks: {unknown_kid_interval: 0.1}")
	c := map[string]any{"iss": p.srv.URL, "exp": testNow.Unix() + 60}
	run(f, keys.Sign("RS256", "k1", c)).wantOK(t, "k1")
	p.set(jwttest.JWKS(keys.JWK("RS256", "dup", true), keys.JWK("ES256", "dup", false),
		jwttest.NewKeys().JWK("RS256", "dup", true), keys.JWK("EdDSA", "k3", true)), false)
	newTok := keys.Sign("EdDSA", "k3", c)
	eventually(t, "the new key of a set with a duplicate kid", func() bool { return run(f, newTok).verdict == filters.Continue })
	run(f, keys.Sign("RS256", "dup", c)).wantOK(t, "RS256 key of the duplicate kid (the first)")
	run(f, keys.Sign("ES256", "dup", c)).wantOK(t, "ES256 key of the duplicate kid")
	run(f, keys.Sign("ES384", "dup", c)).want401(t, "ES384 with the duplicate kid", `{"message":"Invalid algorithm"}`)
	run(f, keys.SignRaw("HS256", `{"alg":"HS256","kid":"dup"}`, `{"iss":"`+p.srv.URL+`"}`)).want401(t, "HS256 with the duplicate kid", `{"message":"Invalid algorithm"}`)
}

// TestJWKSIssuerAndCredentials pins what the README says about mixing
// issuers with consumer credentials: credentials are global (Kong), so a
// consumer's HS secret mints tokens the instance accepts next to its
// provider's, unless allowed_issuers lists only the providers.
func TestJWKSIssuerAndCredentials(t *testing.T) {
	env := testEnv(t)
	p := newProvider(t, jwttest.JWKS(keys.JWK("RS256", "k1", true)))
	iss := p.srv.URL
	idp := keys.Sign("RS256", "k1", map[string]any{"iss": iss, "sub": "u-1", "exp": testNow.Unix() + 60})
	minted := keys.Sign("HS256", "", claims("HS256", "sub", "admin"))
	f := build(t, env, "issuers: [{issuer: \""+iss+"\"}]")
	run(f, idp).wantOK(t, "provider token")
	run(f, minted).wantOK(t, "consumer credential without allowed_issuers (Kong)")
	f = build(t, env, "issuers: [{issuer: \""+iss+"\"}]\nallowed_issuers: [\""+iss+"\"]")
	run(f, idp).wantOK(t, "provider token, allowed_issuers")
	run(f, minted).want401(t, "consumer credential, allowed_issuers", `{"iss":"issuer not allowed"}`)
	// With another key claim, a credential token claiming the provider's
	// iss is verified with the provider's keys, never the credential.
	f = build(t, env, "key_claim_name: kid\nissuers: [{issuer: \""+iss+"\"}]\nallowed_issuers: [\""+iss+"\"]")
	run(f, keys.Sign("HS256", "iss-HS256", map[string]any{"iss": iss})).want401(t, "credential kid with the provider's iss", "")
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestChecksAtRequestStart: without a test clock, tokens are checked at the
// request's start (Ctx.Start, the one clock reading the gateway makes for a
// request), and at the current time when it is not set.
func TestChecksAtRequestStart(t *testing.T) {
	f := build(t, testEnv(t), `claims_to_verify: [exp]`)
	f.clock = nil
	now := time.Now()
	tok := keys.Sign("HS256", "", claims("HS256", "exp", now.Unix()+600, "nbf", now.Unix()-10))
	at := func(start time.Time) func(r *filtertest.Request) {
		return func(r *filtertest.Request) { r.Ctx.Start = start }
	}
	run(f, tok, at(now)).wantOK(t, "started now")
	run(f, tok).wantOK(t, "no start time")
	// The same token, cached now, on a request that started after its exp.
	run(f, tok, at(now.Add(700*time.Second))).want401(t, "started after exp", `{"exp":"token expired"}`)
	run(f, tok, at(now.Add(-100*time.Second))).want401(t, "started before nbf", "")
}
