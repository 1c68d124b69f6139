package pathnorm

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/", "/"},
		{"/admin", "/admin"},
		{"//admin", "/admin"},
		{"///admin//x", "/admin/x"},
		{"/./admin", "/admin"},
		{"/v1/../admin", "/admin"},
		{"/v1/./../admin", "/admin"},
		{"/../../admin", "/admin"},
		{"/%61dmin", "/admin"},
		{"/%2e%2e/admin", "/admin"},
		{"/v1/%2E%2E/admin", "/admin"},
		{"/v1/.%2e/admin", "/admin"},
		{"/a/b/..", "/a/"},
		{"/a/b/.", "/a/b/"},
		{"/a/b/", "/a/b/"},
		{"/a/..", "/"},
		{"/..", "/"},
		{"/.", "/"},
		{"/a%20b", "/a%20b"},
		{"/a%3bb", "/a%3Bb"},
		{"/caf%C3%A9", "/caf%C3%A9"},
		{"/café", "/café"},
		{"/a~b_c-d.e", "/a~b_c-d.e"},
		{"/%7Euser", "/~user"},
		{"/...", "/..."},
		{"/a/...b/..", "/a/"},
		{"/items;v=2", "/items;v=2"},
		{"/a;b/c;d=1", "/a;b/c;d=1"},
		{"/admin;", "/admin;"},
		{"/...;x/a", "/...;x/a"},
		{"/a.;b", "/a.;b"},
	}
	for _, c := range cases {
		got, err := Normalize(nil, []byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestNormalizeRejects(t *testing.T) {
	bad := []string{
		"/admin%2f..", "/admin%2F", "/a%5cb", "/a\\b", "/a\x00b", "/a%00b", "/a%0ab", "/a%0Db",
		"/a%7f", "/a\x7f", "/a%", "/a%2", "/a%zz", "/a%g0",
		"/%C0%AF", "/%c0%ae%c0%ae/admin", "/%E0%80%AF", "/%ED%A0%80", "/%F4%90%80%80",
		"/%C3", "/%C3%28", "/\xc0\xaf", "/\xff",
		// Dot and empty segments with path parameters (Tomcat's "/..;/").
		"/x/..;/admin", "/.;/admin", "/;/admin", "/;x/admin", "/admin/..;", "/x/.;",
		"/;", "//;/admin", "/%2e%2e;/admin", "/.%2e;x/admin", "/x/..;jsessionid=1/admin",
	}
	for _, in := range bad {
		if got, err := Normalize(nil, []byte(in)); !errors.Is(err, ErrAmbiguous) {
			t.Errorf("Normalize(%q) = %q, %v; want ErrAmbiguous", in, got, err)
		}
	}
	for _, in := range []string{"", "admin", "*", "http://x/admin"} {
		if _, err := Normalize(nil, []byte(in)); !errors.Is(err, ErrNotOrigin) {
			t.Errorf("Normalize(%q): want ErrNotOrigin, got %v", in, err)
		}
	}
}

func TestNormalizeAppends(t *testing.T) {
	dst := []byte("keep")
	got, err := Normalize(dst, []byte("/a/../b"))
	if err != nil || string(got) != "keep/b" {
		t.Fatalf("got %q %v", got, err)
	}
	got, err = Normalize(got[:4], []byte("/a%2f"))
	if err == nil || string(got) != "keep" {
		t.Fatalf("error must leave dst as it was: %q %v", got, err)
	}
}

func TestNormalizeAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	in := []byte("//v1/./items/../%61dmin/x%20y")
	n := testing.AllocsPerRun(100, func() { buf, _ = Normalize(buf[:0], in) })
	if n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
}
