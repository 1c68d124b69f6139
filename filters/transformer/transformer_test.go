package transformer

import (
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// fakeClaims is a tiny filters.Claims: dotted path -> rendered value.
type fakeClaims map[string]string

func (f fakeClaims) AppendClaim(dst []byte, path string) ([]byte, bool) {
	v, ok := f[path]
	if !ok {
		return dst, false
	}
	return append(dst, v...), true
}

const articleConfig = `
add:
  headers:
    - "X-User-ID:$(jwt.sub)"
    - "X-User-Email:$(jwt.email)"
    - "X-User-Roles:$(jwt.roles)"
`

func build(t testing.TB, yaml string) (*Transformer, *filters.Env) {
	t.Helper()
	env := filtertest.Env(t)
	f := filtertest.MustBuild(t, env, Name, yaml)
	return f.(*Transformer), env
}

func values(r *filtertest.Request, name string) []string {
	var out []string
	for _, v := range r.RC.Request.Header.PeekAll(name) {
		out = append(out, string(v))
	}
	return out
}

func eq(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}

func TestArticleIdentityHeaders(t *testing.T) {
	tr, env := build(t, articleConfig)
	r := filtertest.NewRequest("GET", "/orders", "203.0.113.7")
	// The client tries to pick its own identity, twice, in various cases.
	r.RC.Request.Header.Add("X-User-ID", "admin")
	r.RC.Request.Header.Add("x-user-id", "root")
	r.RC.Request.Header.Add("X-USER-ROLES", "superuser")
	r.Ctx.Claims = fakeClaims{"sub": "u-42", "email": "a@example.com", "roles": "admin,dev"}
	if v := r.Run(tr); v != filters.Continue {
		t.Fatalf("verdict %v", v)
	}
	for name, want := range map[string][]string{
		"X-User-ID": {"u-42"}, "X-User-Email": {"a@example.com"}, "X-User-Roles": {"admin,dev"},
	} {
		if got := values(r, name); !eq(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	// No token at all (anonymous route, or jwt not configured): the client's
	// copies are still removed and nothing is sent.
	r = filtertest.NewRequest("GET", "/orders", "203.0.113.7")
	r.RC.Request.Header.Set("X-User-ID", "admin")
	r.RC.Request.Header.Set("X-User-Email", "boss@example.com")
	r.Ctx.Claims = fakeClaims{"sub": "u-7"} // no email, no roles claim
	r.Run(tr)
	if got := values(r, "X-User-ID"); !eq(got, []string{"u-7"}) {
		t.Errorf("X-User-ID = %q", got)
	}
	if got := values(r, "X-User-Email"); len(got) != 0 {
		t.Errorf("client X-User-Email kept: %q", got)
	}
	r = filtertest.NewRequest("GET", "/", "203.0.113.7")
	r.RC.Request.Header.Set("X-User-ID", "admin")
	r.Run(tr)
	if got := values(r, "X-User-ID"); len(got) != 0 {
		t.Errorf("X-User-ID without claims = %q", got)
	}
	if got := counter(env, `reason="missing_variable"`); got != 5 {
		t.Errorf("missing_variable counter = %d, want 5", got)
	}
}

func counter(env *filters.Env, sub string) uint64 {
	var b strings.Builder
	env.Metrics.WritePrometheus(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.Contains(line, sub) {
			var n uint64
			f := strings.Fields(line)
			for _, c := range f[len(f)-1] {
				n = n*10 + uint64(c-'0')
			}
			return n
		}
	}
	return 0
}

func TestUnsafeValuesDropped(t *testing.T) {
	tr, env := build(t, `
add:
  headers: ["X-User-ID:$(jwt.sub)", "X-Name:$(jwt.name)", "X-Trim:  $(jwt.pad)  ", "X-Blank:$(jwt.blank)"]
  querystring: ["u:$(jwt.sub)"]
`)
	for _, bad := range []string{"u\r\nX-Admin: true", "a\nb", "tab\there", "nul\x00", "del\x7f", "bad\xffutf8"} {
		r := filtertest.NewRequest("GET", "/?u=client", "203.0.113.7")
		r.RC.Request.Header.Set("X-User-ID", "client")
		r.Ctx.Claims = fakeClaims{"sub": bad, "name": "Zoë", "pad": " p ", "blank": "   "}
		r.Run(tr)
		if got := values(r, "X-User-ID"); len(got) != 0 {
			t.Errorf("claim %q forwarded as %q", bad, got)
		}
		if got := values(r, "X-Admin"); len(got) != 0 {
			t.Errorf("header injection: %q", got)
		}
		if r.RC.Request.URI().QueryArgs().Has("u") {
			t.Errorf("claim %q forwarded in query", bad)
		}
		if got := values(r, "X-Name"); !eq(got, []string{"Zoë"}) {
			t.Errorf("X-Name = %q", got)
		}
		if got := values(r, "X-Trim"); !eq(got, []string{"p"}) {
			t.Errorf("X-Trim = %q", got)
		}
		if got := values(r, "X-Blank"); len(got) != 0 {
			t.Errorf("X-Blank = %q", got)
		}
	}
	if got := counter(env, `reason="invalid_value"`); got != 12 {
		t.Errorf("invalid_value counter = %d, want 12", got)
	}
}

func TestKongOrderHeaders(t *testing.T) {
	tr, _ := build(t, `
remove:
  headers: [X-Remove-Me, x-debug]
rename:
  headers: ["X-Old:X-New", "X-Absent:X-Whatever"]
replace:
  headers: ["X-Version:2", "X-Not-Sent:no"]
add:
  headers: ["X-Version:3", "X-Added:yes", "X-Tenant:$(consumer.tier)"]
append:
  headers: ["X-List:a", "X-List:$(client_ip)", "X-Added:more"]
`)
	r := filtertest.NewRequest("GET", "/", "198.51.100.9")
	h := &r.RC.Request.Header
	h.Set("X-Remove-Me", "1")
	h.Set("X-Debug", "1")
	h.Add("X-Old", "o1")
	h.Add("X-Old", "o2")
	h.Set("X-New", "client-new")
	h.Set("X-Version", "1")
	h.Set("X-List", "client")
	h.Set("X-Keep", "k")
	r.Ctx.Consumer = &filters.Consumer{Username: "alice", Tier: "gold"}
	r.Run(tr)
	for name, want := range map[string][]string{
		"X-Remove-Me": nil, "X-Debug": nil,
		"X-Old": nil, "X-New": {"o1", "o2"}, "X-Whatever": nil,
		"X-Version":  {"2"}, // replace wins over add (header was present)
		"X-Not-Sent": nil,   // replace only applies to present headers
		"X-Added":    {"yes", "more"},
		"X-Tenant":   {"gold"},
		"X-List":     {"a", "198.51.100.9"}, // the client's copy is gone
		"X-Keep":     {"k"},
	} {
		if got := values(r, name); !eq(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// Without the client's X-Version, add supplies it.
	r = filtertest.NewRequest("GET", "/", "198.51.100.9")
	r.Run(tr)
	if got := values(r, "X-Version"); !eq(got, []string{"3"}) {
		t.Errorf("X-Version = %q", got)
	}
}

func TestQueryString(t *testing.T) {
	tr, _ := build(t, `
remove:
  querystring: [debug]
rename:
  querystring: ["old:new"]
replace:
  querystring: ["page:1", "absent:x"]
add:
  querystring: ["user:$(jwt.sub)", "v:1"]
append:
  querystring: ["tag:a", "tag:$(jwt.roles)"]
`)
	r := filtertest.NewRequest("GET", "/search?debug=1&old=o1&old=o2&page=9&user=evil&tag=client&keep=k", "198.51.100.9")
	r.Ctx.Claims = fakeClaims{"sub": "u 42&x", "roles": "a,b"}
	r.Run(tr)
	want := "/search?keep=k&new=o1&new=o2&page=1&user=u+42%26x&v=1&tag=a&tag=a%2Cb"
	if got := string(r.RC.Request.URI().RequestURI()); got != want {
		t.Errorf("uri = %s\nwant  %s", got, want)
	}
	if got := string(r.RC.Request.Header.RequestURI()); got != want {
		t.Errorf("header request uri = %s", got)
	}
	// Removing the only argument leaves no query at all.
	tr2, _ := build(t, "remove:\n  querystring: [a]\n")
	r = filtertest.NewRequest("GET", "/p?a=1", "198.51.100.9")
	r.Run(tr2)
	if got := string(r.RC.Request.URI().RequestURI()); got != "/p" {
		t.Errorf("uri = %s", got)
	}
}

func TestMethodAndURI(t *testing.T) {
	tr, env := build(t, `
http_method: POST
replace:
  uri: "/users/$(jwt.sub)/orders"
`)
	r := filtertest.NewRequest("GET", "/me/orders?x=1", "198.51.100.9")
	r.Ctx.Claims = fakeClaims{"sub": "u-42"}
	if v := r.Run(tr); v != filters.Continue {
		t.Fatal(v)
	}
	if m := string(r.RC.Request.Header.Method()); m != "POST" {
		t.Errorf("method %s", m)
	}
	if got := string(r.RC.Request.URI().RequestURI()); got != "/users/u-42/orders?x=1" {
		t.Errorf("uri %s", got)
	}
	// Without the claim the path cannot be built: 500 like Kong's render error.
	r = filtertest.NewRequest("GET", "/me/orders", "198.51.100.9")
	if v := r.Run(tr); v != filters.Respond || r.RC.Response.StatusCode() != 500 {
		t.Fatalf("verdict %v status %d", v, r.RC.Response.StatusCode())
	}
	if !strings.Contains(string(r.RC.Response.Body()), `"message":"An unexpected error occurred"`) {
		t.Errorf("body %s", r.RC.Response.Body())
	}
	if counter(env, `reason="uri"`) != 1 {
		t.Error("uri error not counted")
	}
}

func TestKongDefaultsLoad(t *testing.T) {
	// What `deck dump` exports for an untouched plugin.
	build(t, `
http_method: null
remove: {body: [], headers: [], querystring: []}
rename: {body: [], headers: [], querystring: []}
replace: {body: [], headers: [], querystring: [], uri: null, json_types: []}
add: {body: [], headers: [], querystring: [], json_types: []}
append: {body: [], headers: [], querystring: [], json_types: []}
`)
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"add:\n  headers: [\"Host:evil.example\"]\n", "config.add.headers[0]: request-transformer: Host cannot be changed"},
		{"append:\n  headers: [\"content-length:0\"]\n", "content-length cannot be changed"},
		{"remove:\n  headers: [Transfer-Encoding]\n", "Transfer-Encoding cannot be changed"},
		{"rename:\n  headers: [\"X-A:Host\"]\n", "Host cannot be changed"},
		{"add:\n  headers: [\"X-User-ID\"]\n", `entry "X-User-ID" must be "name:value"`},
		{"add:\n  headers: [\"X-User-ID:$(jwt)\"]\n", `unknown variable "jwt"`},
		{"add:\n  headers: [\"X-User-ID:$(jwt.sub\"]\n", `unclosed`},
		{"add:\n  headers: [\"X User:1\"]\n", `invalid header name "X User"`},
		{"add:\n  headers: [\"Cookie:a=b\"]\n", "Cookie header cannot be set"},
		{"add:\n  headers: [\"X-A:a\\u0007b\"]\n", "control characters"},
		{"add:\n  body: [\"a:b\"]\n", "config.add.body: request-transformer: body transforms are not supported"},
		{"http_method: post\n", "config.http_method: request-transformer: must be an upper-case method"},
		{"replace:\n  uri: \"users\"\n", `must start with "/"`},
		{"replace:\n  uri: \"/$(jwt.)\"\n", "missing name after the dot"},
		{"add:\n  header: []\n", `config.add.header: unknown field (did you mean "headers"?)`},
		{"gateway_identity:\n  algorithm: HS256\n  secret: short\n", "config.gateway_identity.secret: request-transformer: HS256 secret must be at least 32 bytes"},
		{"gateway_identity: {}\n", "a key is required"},
		{"gateway_identity:\n  algorithm: RS256\n  secret: 0123456789abcdef0123456789abcdef\n", `must be EdDSA or HS256`},
		{"gateway_identity:\n  secret: 0123456789abcdef0123456789abcdef\n  ttl: 1h\n", "must be between 1s and 5m"},
		{"gateway_identity:\n  private_key_file: /nonexistent.pem\n", "cannot read key"},
		{"gateway_identity:\n  header: X-User-ID\n  secret: 0123456789abcdef0123456789abcdef\nadd:\n  headers: [\"X-User-ID:$(jwt.sub)\"]\n", "also set by add/replace/append"},
	}
	for _, tc := range tests {
		_, err := buildErr(t, tc.yaml)
		if err == nil {
			t.Errorf("%q: no error", tc.yaml)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got  %v\n want %s", tc.yaml, err, tc.want)
		}
		if !strings.HasPrefix(err.Error(), "test.yaml:") {
			t.Errorf("error without position: %v", err)
		}
	}
}

func buildErr(t *testing.T, yaml string) (filters.Filter, error) {
	return filtertest.Build(filtertest.Env(t), Name, yaml)
}

func TestNewFromStruct(t *testing.T) {
	tr, err := New(Config{Add: Ops{Headers: []string{"X-A:$(route.name)"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := filtertest.NewRequest("GET", "/", "198.51.100.9")
	r.Run(tr)
	if got := values(r, "X-A"); !eq(got, []string{"test-route"}) {
		t.Errorf("X-A = %q", got)
	}
	if _, err := New(Config{Add: Ops{Headers: []string{"Host:x"}}}, nil); err == nil {
		t.Error("New accepted Host")
	}
}
