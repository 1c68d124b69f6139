package template

import (
	"testing"

	"github.com/edgeguard/edgeguard/filters/filtertest"
)

type jsonClaims = filtertest.JSONClaims

func TestAppendCheckedPathSegment(t *testing.T) {
	tpl := MustCompile("/files/$(query.f)")
	for _, tc := range []struct {
		query, want string
		st          Status
	}{
		{"a.txt", "/files/a.txt", OK},
		{"x%20HTTP/1.1%20x", "/files/x%20HTTP%2F1.1%20x", OK}, // no space in the request line
		{"a%3Fadmin%3D1", "/files/a%3Fadmin%3D1", OK},         // no query injected
		{"../../admin/users", "/files/..%2F..%2Fadmin%2Fusers", OK},
		{"a%23b", "/files/a%23b", OK},
		{"50%25", "/files/50%25", OK},
		{"%C3%A4~_-", "/files/%C3%A4~_-", OK},
		{"a;b,c=d@e:f!$%26'()*%2B", "/files/a%3Bb%2Cc%3Dd%40e%3Af%21%24%26%27%28%29%2A%2B", OK},
		{".", "", Invalid},
		{"..", "", Invalid},
		{"...", "/files/...", OK},
		{"", "", Missing},
		{"%20%20", "", Missing},
		{"a%0d%0aX-Admin:%201", "", Invalid},
		{"a%00b", "", Invalid},
		{"%ff%fe", "", Invalid},
		{"a%C2%85b", "", Invalid}, // NEL
	} {
		r := filtertest.NewRequest("GET", "/dl?f="+tc.query, "203.0.113.7")
		got, st := tpl.AppendChecked(nil, &r.Ctx, PathSegment)
		if st != tc.st || (st == OK && string(got) != tc.want) {
			t.Errorf("f=%s: got %q %v, want %q %v", tc.query, got, st, tc.want, tc.st)
		}
	}
	// Raw leaves the value as it is.
	r := filtertest.NewRequest("GET", "/dl?f=a/b%3F", "203.0.113.7")
	if got, st := tpl.AppendChecked(nil, &r.Ctx, Raw); st != OK || string(got) != "/files/a/b?" {
		t.Errorf("raw: %q %v", got, st)
	}
}

func TestAppendCheckedClaims(t *testing.T) {
	r := filtertest.NewRequest("GET", "/", "203.0.113.7")
	for _, tc := range []struct {
		claims, want string
		st           Status
	}{
		{`{"v":"alice"}`, "alice", OK},
		{`{"v":12345678901234567890}`, "12345678901234567890", OK},
		{`{"v":1.5e3}`, "1.5e3", OK},
		{`{"v":true}`, "true", OK},
		{`{"v":["a","b","c"]}`, "a,b,c", OK},
		{`{"v":["alice","admin"]}`, "alice,admin", OK},
		{`{"v":["a",null,1]}`, "a,1", OK},
		{`{"v":["a,b","c"]}`, "", Invalid}, // would read as a,b,c
		{`{"v":"a,b"}`, "a,b", OK},         // a plain string is kept as sent
		{`{"v":[["admin"],"x"]}`, "", Invalid},
		{`{"v":[{"r":"admin"}]}`, "", Invalid},
		{`{"v":{"a":"b"}}`, "", Invalid},
		{`{"v":null}`, "", Missing},
		{`{"v":[]}`, "", Missing},
		{`{"v":""}`, "", Missing},
		{`{"v":"   "}`, "", Missing},
		{`{"w":"x"}`, "", Missing},
		{`{"v":"\ud800x"}`, "", Invalid}, // lone surrogate, decoded as U+FFFD
		{`{"v":"a\u0085b"}`, "", Invalid},
		{`{"v":"alice\u2028X-Admin: 1"}`, "", Invalid},
		{`{"v":"alice\u2029"}`, "", Invalid},
		{`{"v":"\u00e5lice\u202e"}`, "", Invalid},
		{`{"v":"a\u2066b"}`, "", Invalid},
		{`{"v":"al\tice"}`, "", Invalid},
		{`{"v":"al\u007fice"}`, "", Invalid},
		{`{"v":["a","b\r\nX-Admin: 1"]}`, "", Invalid},
		{`{"v":"\u00e5lice \ud83d\ude00"}`, "ålice 😀", OK},
	} {
		r.Ctx.Claims = jsonClaims(tc.claims)
		got, st := MustCompile("$(jwt.v)").AppendChecked(nil, &r.Ctx, Raw)
		if st != tc.st || (st == OK && string(got) != tc.want) {
			t.Errorf("%s: got %q %v, want %q %v", tc.claims, got, st, tc.want, tc.st)
		}
	}
	// Claims without TypedClaims: the text, checked.
	r.Ctx.Claims = fakeClaims{"sub": "u-42", "roles": "a,b", "bad": "a\u2028b", "blank": " \t"}
	for src, want := range map[string]Status{"$(jwt.sub)": OK, "$(jwt.roles)": OK, "$(jwt.bad)": Invalid, "$(jwt.blank)": Missing, "$(jwt.none)": Missing} {
		if _, st := MustCompile(src).AppendChecked(nil, &r.Ctx, Raw); st != want {
			t.Errorf("%s: %v, want %v", src, st, want)
		}
	}
}

func TestValidValue(t *testing.T) {
	for s, want := range map[string]bool{
		"u-42": true, "ålice": true, "a b": true, "日本": true, "": true,
		"a\tb": false, "a\x7f": false, "\xff": false, "a\u0085": false, "\u009f": false,
		"\u2028": false, "\u2029": false, "\u061c": false, "\u200e": false, "\u200f": false,
		"\u202a": false, "\u202e": false, "\u2066": false, "\u2069": false, "\ufffd": false,
		"\u2027\u202f\u2065\u206a": true,
	} {
		if ValidValue([]byte(s)) != want {
			t.Errorf("ValidValue(%q) != %v", s, want)
		}
	}
}

func TestAppendCheckedZeroAllocs(t *testing.T) {
	r := newReq()
	r.Ctx.Claims = jsonClaims(`{"sub":"u 42","roles":["admin","dev"]}`)
	tpl := MustCompile("/u/$(jwt.sub)/$(jwt.roles)/$(header.x-tenant)")
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(200, func() {
		buf, _ = tpl.AppendChecked(buf[:0], &r.Ctx, PathSegment)
	})
	if allocs != 0 || string(buf) != "/u/u%2042/admin%2Cdev/acme" {
		t.Fatalf("AppendChecked: %q, %v allocations per run", buf, allocs)
	}
}
