package validator

import (
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// FuzzContentType checks the Content-Type parser: no panic, and a parsed
// type always matches the `*/*` entry and round-trips its type.
func FuzzContentType(f *testing.F) {
	for _, s := range []string{
		"application/json", "application/json; charset=utf-8", `text/plain;charset="a\"b"`,
		"a/b;c=d;e=f", "application/json;", " / ", "x/y; =z", `a/b; c="unterminated`,
	} {
		f.Add(s)
	}
	any, _ := parseAllowed("*/*")
	jsonUTF8, _ := parseAllowed("application/json; charset=utf-8")
	f.Fuzz(func(t *testing.T, s string) {
		var v ctView
		if parseContentType([]byte(s), &v) != nil {
			return
		}
		if len(v.typ) == 0 || len(v.sub) == 0 {
			t.Fatalf("%q: empty type", s)
		}
		if !any.matches(&v, true) {
			t.Fatalf("%q: */* does not match", s)
		}
		if jsonUTF8.matches(&v, true) && (!strings.EqualFold(string(v.typ), "application") || v.n != 1) {
			t.Fatalf("%q matched application/json; charset=utf-8", s)
		}
		isJSON(&v)
	})
}

// FuzzAccess runs random bodies and query strings through the plugin:
// the verdict is Continue or a 400/413 with a JSON body, never a panic.
func FuzzAccess(f *testing.F) {
	for _, s := range []string{
		`{"name":"A","email":"a@b.co"}`, `{"name":"A","email":"a@b.co","name":"B"}`, `[`, "\xff", `{"phone":"+1234567890"}`,
	} {
		f.Add(s, "application/json", "limit=5&tags=a")
	}
	f.Add(``, "", "filter[min]=x&ids=1,,2")
	body := build(f, articleConfig)
	params := build(f, paramConfig)
	f.Fuzz(func(t *testing.T, b, ct, query string) {
		for _, flt := range []filters.Filter{body, params} {
			r := filtertest.NewRequest("POST", "/users/123e4567-e89b-12d3-a456-426614174000/orders?"+query, "203.0.113.7")
			r.RC.Request.Header.Set("X-Request-Version", "v1")
			if ct != "" {
				r.RC.Request.Header.SetContentType(ct)
			}
			r.RC.Request.SetBodyString(b)
			v := r.Run(flt)
			if v == filters.Continue {
				continue
			}
			st := r.RC.Response.StatusCode()
			out := string(r.RC.Response.Body())
			if (st != 400 && st != 413) || !strings.HasPrefix(out, `{"message":"`) {
				t.Fatalf("verdict %v status %d body %s", v, st, out)
			}
		}
	})
}
