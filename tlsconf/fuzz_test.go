package tlsconf

import (
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzParseCiphers: never panics; whatever it accepts is a strong suite.
func FuzzParseCiphers(f *testing.F) {
	f.Add(DefaultCiphers)
	f.Add("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")
	f.Add("HIGH:!aNULL:!MD5")
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := ParseCiphers(s)
		if err != nil {
			return
		}
		for _, id := range ids {
			ok := false
			for _, strong := range strongSuites {
				ok = ok || id == strong
			}
			if !ok {
				t.Fatalf("%q gave suite %x", s, id)
			}
		}
	})
}

// FuzzRedirect: the Location always points to https:// + the request's own
// host, never another authority, and carries no CR/LF.
func FuzzRedirect(f *testing.F) {
	f.Add("api.example.com", "/a?b=c")
	f.Add("[::1]:8080", "//x")
	f.Add("a.b@c", "/")
	f.Fuzz(func(t *testing.T, host, uri string) {
		var rc fasthttp.RequestCtx
		rc.Request.Header.SetMethod("GET")
		rc.Request.SetRequestURI(uri)
		rc.Request.Header.SetHost(host)
		Redirect(&rc, "8443", 308, nil)
		loc := rc.Response.Header.Peek("Location")
		if rc.Response.StatusCode() == 400 {
			return
		}
		if bytes.ContainsAny(loc, "\r\n") {
			t.Fatalf("CR/LF in Location %q", loc)
		}
		want := "https://" + string(hostOnly([]byte(host)))
		if !strings.HasPrefix(string(loc), want+":8443/") {
			t.Fatalf("host %q uri %q: Location %q", host, uri, loc)
		}
	})
}

// FuzzAppendSubject: never panics; the result is printable ASCII (safe in
// a header) whatever the subject holds.
func FuzzAppendSubject(f *testing.F) {
	f.Add([]byte("0\x1e1\x0e0\x0c\x06\x03U\x04\x03\x0c\x05alice1\x0c0\n\x06\x03U\x04\n\x0c\x03\xe2\x80\xae"))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		for i, c := range AppendSubject(nil, raw) {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("byte %#x at %d", c, i)
			}
		}
	})
}
