package proxy

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzFraming parses arbitrary request heads with fasthttp and runs the
// framing, request-line and host checks: they must never panic, a request
// they accept must not carry both Content-Length and Transfer-Encoding nor
// a host of other bytes than a host name's, and
// scanHeaders must accept and reject exactly what the previous, line-by-line
// version (scanHeadersRef) did, with the same header mask.
func FuzzFraming(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n",
		"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET http://b:80/x?y HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: u@b\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReader(bytes.NewReader(data))); err != nil {
			return
		}
		checkRequestLine(&h)
		got, gotMask := scanHeaders(&h)
		want, wantMask := scanHeadersRef(&h)
		if (got == "") != (want == "") || gotMask != wantMask {
			t.Fatalf("scanHeaders %q %b, reference %q %b for %q", got, gotMask, want, wantMask, data)
		}
		if checkHost(&h) == "" {
			// What routing and the upstream get is a plain host[:port].
			for _, c := range h.Host() {
				if !hostTable[c] && !strings.ContainsRune(":[]", rune(c)) {
					t.Fatalf("accepted host %q (from %q)", h.Host(), data)
				}
			}
		}
		if checkFraming(&h) == "" {
			raw := strings.ToLower(string(h.RawHeaders()))
			if strings.Contains(raw, "\ncontent-length:") && strings.Contains(raw, "\ntransfer-encoding:") {
				t.Fatalf("accepted CL+TE: %q", data)
			}
		}
	})
}

// scanHeadersRef is the previous, line-by-line scanHeaders, kept as the
// reference the fuzz test compares the current one with.
func scanHeadersRef(h *fasthttp.RequestHeader) (string, uint32) {
	raw := h.RawHeaders()
	var cl, te int
	var mask uint32
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			// fasthttp keeps the block up to and including the final CRLF;
			// anything else means a line without LF.
			return "header line without CRLF", 0
		}
		if i == 0 || raw[i-1] != '\r' {
			return "bare LF in header", 0
		}
		line := raw[:i-1]
		raw = raw[i+1:]
		if len(line) == 0 {
			continue // the empty line ending the block
		}
		if line[0] == ' ' || line[0] == '\t' {
			return "obs-fold header continuation", 0
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return "header line without name", 0
		}
		name, value := line[:colon], line[colon+1:]
		for _, c := range name {
			if !isTokenChar(c) {
				return "invalid header name", 0
			}
		}
		// Control characters in values are refused by fasthttp's own scanner
		// (validHeaderValueByte) before we get here; TestSmuggling checks it.
		mask |= headerBit(name)
		switch {
		case equalFold(name, "content-length"):
			cl++
			v := trimOWS(value)
			if len(v) == 0 || len(v) > 18 {
				return "invalid Content-Length", 0
			}
			for _, c := range v {
				if c < '0' || c > '9' {
					return "invalid Content-Length", 0
				}
			}
		case equalFold(name, "transfer-encoding"):
			te++
			if !equalFold(trimOWS(value), "chunked") {
				return "unsupported Transfer-Encoding", 0
			}
		}
	}
	if cl > 1 {
		return "duplicate Content-Length", 0
	}
	if te > 1 {
		return "duplicate Transfer-Encoding", 0
	}
	if cl > 0 && te > 0 {
		return "both Content-Length and Transfer-Encoding", 0
	}
	if te > 0 && !h.IsHTTP11() {
		return "Transfer-Encoding in HTTP/1.0", 0
	}
	return "", mask
}

// BenchmarkScanHeaders runs the framing scan over peerbench's request head
// (Host, a browser User-Agent, Accept, a JWT): "current" is scanHeaders,
// "reference" the previous line-by-line version.
func BenchmarkScanHeaders(b *testing.B) {
	head := "GET /v1/items HTTP/1.1\r\nHost: 127.0.0.1:18095\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n" +
		"Accept: application/json\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwiZXhwIjo0MDcwOTA4ODAwfQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU\r\n\r\n"
	var h fasthttp.RequestHeader
	if err := h.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		f    func(*fasthttp.RequestHeader) (string, uint32)
	}{{"current", scanHeaders}, {"reference", scanHeadersRef}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r, _ := bc.f(&h); r != "" {
					b.Fatal(r)
				}
			}
		})
	}
}

// TestValidHost: a name of letters, digits, "-", ".", "_", "~" without
// empty labels and at most 253 bytes (and a final dot), IPv4, a bracketed
// IPv6 literal; a port up to 65535.
func TestValidHost(t *testing.T) {
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
	for _, c := range []struct {
		host string
		ok   bool
	}{
		{"a", true}, {"api.example.com", true}, {"api.example.com.", true}, {"x_y.z~1", true},
		{"127.0.0.1:80", true}, {"[::1]:8080", true}, {"[2001:db8::1]", true}, {"a:65535", true}, {"a:", true},
		{long, true}, {long + ".", true}, {long + ":443", true},
		{"a..b", false}, {".a", false}, {".", false}, {"..", false}, {"api.example.com..", false},
		{"a:65536", false}, {"a:99999", false}, {"a:123456", false}, {long + "e", false}, {long + "e.", false},
		{"a b", false}, {"a@b", false}, {"[zz]", false}, {"[::1", false}, {"a:8x", false}, {"", false},
	} {
		if got := validHost([]byte(c.host)); got != c.ok {
			t.Errorf("validHost(%q) = %v, want %v", c.host, got, c.ok)
		}
	}
}

// BenchmarkCheckHost runs the host check on a request with a host:port
// Host header (peerbench's) and on an absolute-form request.
func BenchmarkCheckHost(b *testing.B) {
	for _, bc := range []struct{ name, head string }{
		{"origin-form", "GET /v1/items HTTP/1.1\r\nHost: 127.0.0.1:18095\r\n\r\n"},
		{"absolute-form", "GET http://api.example.com/v1/items HTTP/1.1\r\nHost: api.example.com\r\n\r\n"},
	} {
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReader(strings.NewReader(bc.head))); err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := checkHost(&h); r != "" {
					b.Fatal(r)
				}
			}
		})
	}
}
