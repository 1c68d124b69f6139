package template

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// fakeClaims is a tiny filters.Claims over a flat map of dotted paths to
// already-rendered values (arrays comma-joined), as the jwt plugin renders.
type fakeClaims map[string]string

func (f fakeClaims) AppendClaim(dst []byte, path string) ([]byte, bool) {
	v, ok := f[path]
	if !ok {
		return dst, false
	}
	return append(dst, v...), true
}

func newReq() *filtertest.Request {
	r := filtertest.NewRequest("GET", "/orders?page=2&x=%20y", "203.0.113.7")
	r.RC.Request.Header.Set("X-Tenant", "acme")
	r.RC.Request.Header.Set("Cookie", "sid=abc; theme=dark")
	r.Ctx.Claims = fakeClaims{"sub": "u-42", "email": "a@example.com", "roles": "admin,dev", "realm.level": "3", "empty": "", "https://example.com/roles": "a,b"}
	r.Ctx.Consumer = &filters.Consumer{ID: "c-1", Username: "alice", CustomID: "", Tier: "gold"}
	return r
}

func TestRender(t *testing.T) {
	r := newReq()
	tests := []struct {
		src  string
		want string
		ok   bool
	}{
		{"", "", true},
		{"plain", "plain", true},
		{"$(jwt.sub)", "u-42", true},
		{"$( jwt.sub )", "u-42", true},
		{"Bearer $(jwt.email) from $(client_ip)", "Bearer a@example.com from 203.0.113.7", true},
		{"$(jwt.roles)", "admin,dev", true},
		{"$(jwt.realm.level)", "3", true},
		{"$(jwt.https://example.com/roles)", "a,b", true}, // namespaced claim (Auth0 style)
		{"$(jwt.missing)", "", false},
		{"$(jwt.empty)", "", false},
		{"id=$(jwt.missing);sub=$(jwt.sub)", "id=;sub=u-42", false},
		{"$(consumer.username)/$(consumer.id)/$(consumer.tier)", "alice/c-1/gold", true},
		{"$(consumer.custom_id)", "", false},
		{"$(request_id)", "test-request-id", true},
		{"$(route.name)@$(service.name)", "test-route@test-service", true},
		{"$(header.x-tenant)", "acme", true},
		{"$(header.X-TENANT)", "acme", true},
		{"$(header.x-none)", "", false},
		{"$(query.page)", "2", true},
		{"$(query.x)", " y", true},
		{"$(cookie.theme)", "dark", true},
		{"$(headers.x_tenant)", "acme", true},
		{`$(headers["X-Tenant"])`, "acme", true},
		{"$(headers['x-tenant'])", "acme", true},
		{"$(query_params.page)", "2", true},
		{`$(query_params["page"])`, "2", true},
		{"price $5 $$(jwt.sub) $", "price $5 $(jwt.sub) $", true},
		{"$$$(jwt.sub)", "$$(jwt.sub)", true}, // "$" literal then "$$(" escape
		{"$$", "$$", true},
	}
	for _, tc := range tests {
		tpl, err := Compile(tc.src)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.src, err)
		}
		got, ok := tpl.AppendRender([]byte("pre:"), &r.Ctx)
		if string(got) != "pre:"+tc.want || ok != tc.ok {
			t.Errorf("%q: got %q ok=%v, want %q ok=%v", tc.src, got, ok, "pre:"+tc.want, tc.ok)
		}
	}
}

func TestRenderWithoutIdentity(t *testing.T) {
	r := filtertest.NewRequest("GET", "/", "198.51.100.1")
	for _, src := range []string{"$(jwt.sub)", "$(consumer.username)", "$(consumer.tier)"} {
		got, ok := MustCompile(src).AppendRender(nil, &r.Ctx)
		if ok || len(got) != 0 {
			t.Errorf("%s without identity: got %q ok=%v", src, got, ok)
		}
	}
	// A Ctx without a request: request variables are absent, others work.
	var c filters.Ctx
	c.Route = "r"
	if got, ok := MustCompile("$(header.a)$(query.b)$(cookie.c)$(client_ip)").AppendRender(nil, &c); ok || len(got) != 0 {
		t.Errorf("nil RC: got %q ok=%v", got, ok)
	}
	if got, ok := MustCompile("$(route.name)").AppendRender(nil, &c); !ok || string(got) != "r" {
		t.Errorf("route: got %q ok=%v", got, ok)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"$(jwt)", `unknown variable "jwt" (did you mean "jwt.<claim>"?)`},
		{"$(jwt.)", `variable "jwt.": missing name after the dot`},
		{"$(jwt.a..b)", "empty segment"},
		{"$(jwt.a b)", `claim path contains ' '`},
		{"x $(jwt.sub", `column 3: unclosed "$(": missing ")"`},
		{"$()", "empty variable"},
		{"$(consumer.usrname)", `unknown variable "consumer.usrname" (did you mean "consumer.username"?)`},
		{"$(clientip)", `did you mean "client_ip"?`},
		{"$(header.x y)", "header name contains ' '"},
		{"$(header.cookie)", "use cookie.<name>"},
		{"$(jwt.a$(b))", `unexpected '$'`},
		{"$(jwt.(sub))", `unexpected '('`},
		{"$(nope)", "known: jwt.<claim>, consumer.username"},
		{"$(headers[x])", "unknown variable"},
		{`$(headers["a b"])`, "unknown variable"},
		{`$(headers.x or "d")`, "unknown variable"},
	}
	for _, tc := range tests {
		_, err := Compile(tc.src)
		if err == nil {
			t.Errorf("Compile(%q): no error", tc.src)
			continue
		}
		var te *Error
		if !errors.As(err, &te) || te.Template != tc.src {
			t.Errorf("Compile(%q): error %T %v", tc.src, err, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%q): error %q does not contain %q", tc.src, err, tc.want)
		}
	}
}

func TestExtraVars(t *testing.T) {
	status := Var{Name: "response.status", Append: func(dst []byte, c *filters.Ctx, _ string) ([]byte, bool) {
		return append(dst, "200"...), true
	}}
	hdr := Var{Name: "upstream.", Append: func(dst []byte, c *filters.Ctx, arg string) ([]byte, bool) {
		return append(dst, "u:"+arg...), true
	}}
	tpl, err := Compile("$(response.status) $(upstream.addr) $(route.name)", status, hdr)
	if err != nil {
		t.Fatal(err)
	}
	var c filters.Ctx
	c.Route = "r1"
	got, ok := tpl.AppendRender(nil, &c)
	if string(got) != "200 u:addr r1" || !ok {
		t.Fatalf("got %q ok=%v", got, ok)
	}
	if _, err := Compile("$(response.code)", status); err == nil || !strings.Contains(err.Error(), "response.status") {
		t.Fatalf("want suggestion of the extra var, got %v", err)
	}
	if _, err := Compile("$(response.status)"); err == nil {
		t.Fatal("extra var must not be known without being passed")
	}
}

func TestIntrospection(t *testing.T) {
	tpl := MustCompile("a $(jwt.sub) b $(client_ip)")
	if !tpl.HasVars() || strings.Join(tpl.Vars(), ",") != "jwt.sub,client_ip" {
		t.Fatalf("vars: %v", tpl.Vars())
	}
	if _, ok := tpl.Literal(); ok {
		t.Fatal("Literal of a template with vars")
	}
	lit, ok := MustCompile("v1 $$(x)").Literal()
	if !ok || string(lit) != "v1 $(x)" {
		t.Fatalf("literal %q %v", lit, ok)
	}
	if tpl.String() != "a $(jwt.sub) b $(client_ip)" {
		t.Fatal("String")
	}
	var zero Template
	if got, ok := zero.AppendRender(nil, nil); len(got) != 0 || !ok {
		t.Fatal("zero template")
	}
}

func TestIsHeaderName(t *testing.T) {
	for s, want := range map[string]bool{"X-User-ID": true, "": false, "a b": false, "x:y": false, "x\n": false, "a_b.c~": true} {
		if IsHeaderName(s) != want {
			t.Errorf("IsHeaderName(%q) != %v", s, want)
		}
	}
}

func TestRenderZeroAllocs(t *testing.T) {
	r := newReq()
	tpl := MustCompile("Bearer $(jwt.email) from $(client_ip) id=$(request_id) $(consumer.username) $(header.x-tenant) $(query.page) $(cookie.sid)")
	buf := make([]byte, 0, 256)
	tpl.AppendRender(buf, &r.Ctx) // warm lazily parsed query and cookies
	allocs := testing.AllocsPerRun(200, func() {
		buf, _ = tpl.AppendRender(buf[:0], &r.Ctx)
	})
	if allocs != 0 {
		t.Fatalf("AppendRender allocates %v times per run", allocs)
	}
}
