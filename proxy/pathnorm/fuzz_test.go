package pathnorm

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNormalize checks the invariants of a normalised path: it starts with
// '/', has no '//' and no '.' or '..' segment, has no raw or encoded
// control characters, backslashes or encoded slashes, decodes to valid
// UTF-8, and normalising it again changes nothing.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"/", "//admin", "/./a/../b", "/%61dmin", "/admin%2f..", "/a\\b", "/%C0%AF", "/caf%C3%A9/", "/a/b/..", "/%2e%2e/%2e/x", "/v1/items.json", "/a/.hidden/..x/...", "/a/..", "/a/.", "/a./b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// The fast path agrees with the general one.
		if len(in) > 0 && in[0] == '/' && alreadyNormal(in) {
			if slow, err := normalize(nil, in); err != nil || !bytes.Equal(slow, in) {
				t.Fatalf("fast path kept %q, general path gives %q (%v)", in, slow, err)
			}
		}
		out, err := Normalize(nil, in)
		if err != nil {
			if len(out) != 0 {
				t.Fatalf("error with output %q", out)
			}
			return
		}
		if len(out) == 0 || out[0] != '/' {
			t.Fatalf("%q -> %q: must start with /", in, out)
		}
		if bytes.Contains(out, []byte("//")) {
			t.Fatalf("%q -> %q: has //", in, out)
		}
		for _, seg := range strings.Split(string(out), "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q -> %q: dot segment", in, out)
			}
		}
		if bytes.ContainsAny(out, "\\\x00") {
			t.Fatalf("%q -> %q: backslash or NUL", in, out)
		}
		dec, derr := url.PathUnescape(string(out))
		if derr != nil {
			t.Fatalf("%q -> %q: output does not unescape: %v", in, out, derr)
		}
		if !utf8.ValidString(dec) || strings.Count(dec, "/") != strings.Count(string(out), "/") {
			t.Fatalf("%q -> %q: decoded %q is invalid or has extra slashes", in, out, dec)
		}
		for _, r := range dec {
			if r < 0x20 || r == 0x7f || r == '\\' {
				t.Fatalf("%q -> %q: control char in decoded form", in, out)
			}
		}
		again, err := Normalize(nil, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, out, again, err)
		}
	})
}
