package router

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	r, probs := Compile([]Spec[string]{
		{Name: "std", Hosts: []string{"api.example.com"}, Paths: []string{"/v1"}, Value: "std"},
		{Name: "prem", Hosts: []string{"api.example.com"}, Paths: []string{"/v1/premium"}, Value: "prem"},
		{Name: "wild", Hosts: []string{"*.example.com"}, Paths: []string{"/"}, Value: "wild"},
		{Name: "deep-wild", Hosts: []string{"*.eu.example.com"}, Paths: []string{"/"}, Value: "deep"},
		{Name: "post-only", Hosts: []string{"api.example.com"}, Paths: []string{"/v1/items"}, Methods: []string{"POST"}, Value: "post"},
		{Name: "catch", Paths: []string{"/public"}, Value: "catch"},
	})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	cases := []struct{ host, path, method, want string }{
		{"api.example.com", "/v1/x", "GET", "std"},
		{"API.Example.COM:8080", "/v1/x", "GET", "std"},
		{"api.example.com.", "/v1", "GET", "std"},
		{"api.example.com", "/v1/premium/x", "GET", "prem"},
		{"api.example.com", "/v1/items", "POST", "post"},
		{"api.example.com", "/v1/items", "GET", "std"},
		{"api.example.com", "/other", "GET", "wild"},
		{"x.example.com", "/anything", "GET", "wild"},
		{"a.b.eu.example.com", "/", "GET", "deep"},
		{"example.com", "/public/a", "GET", "catch"},
		{"other.org", "/public", "GET", "catch"},
		{"other.org", "/private", "GET", ""},
		{"", "/public", "GET", "catch"},
		{":8080", "/public", "GET", "catch"},
		// Too long to be a DNS name: not taken for "any host" (which would
		// skip the wildcard route's policies).
		{strings.Repeat("a", 245) + ".example.com", "/public", "GET", ""},
		{"[::1", "/public", "GET", ""},
	}
	for _, c := range cases {
		got, _, ok := r.Match([]byte(c.host), []byte(c.path), []byte(c.method))
		if (c.want == "") == ok || got != c.want {
			t.Errorf("Match(%q, %q, %s) = %q, %v; want %q", c.host, c.path, c.method, got, ok, c.want)
		}
	}
}

func TestCompileProblems(t *testing.T) {
	_, probs := Compile([]Spec[int]{
		{Name: "a", Hosts: []string{"bad host"}, Paths: []string{"v1"}},
		{Name: "b", Hosts: []string{"api.*"}, Paths: []string{"/a/../b"}, Methods: []string{"FETCH"}},
		{Name: "c", Paths: []string{"/x"}},
		{Name: "d", Paths: []string{"/x"}},
	})
	want := map[string]bool{"routes[0].hosts[0]": true, "routes[0].paths[0]": true, "routes[1].hosts[0]": true,
		"routes[1].paths[0]": true, "routes[1].methods[0]": true, "routes[3].paths": true}
	for _, p := range probs {
		k := p.Error()[:len(p.Error())-len(": "+p.Msg)]
		if !want[k] {
			t.Errorf("unexpected problem %v", p)
		}
		delete(want, k)
	}
	for k := range want {
		t.Errorf("missing problem at %s", k)
	}
}

func TestMatchAllocs(t *testing.T) {
	r, _ := Compile([]Spec[int]{{Hosts: []string{"api.example.com"}, Paths: []string{"/v1"}, Value: 1}, {Hosts: []string{"*.example.com"}, Value: 2}})
	h, p, m := []byte("Api.Example.com:443"), []byte("/v1/items"), []byte("GET")
	if n := testing.AllocsPerRun(100, func() { r.Match(h, p, m) }); n != 0 {
		t.Fatalf("allocs %v", n)
	}
}
