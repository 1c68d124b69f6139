package filters

import (
	"bufio"
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func parseRequest(t testing.TB, raw string) *fasthttp.Request {
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	return &req
}

// TestHeaderNames: names in any case as the client sent them, and names
// set by filters, are found and removed; others are kept.
func TestHeaderNames(t *testing.T) {
	names := NewHeaderNames("X-Consumer-ID", "x-credential-identifier", "X-ANONYMOUS-CONSUMER", "X-Forwarded-For")
	req := parseRequest(t, "GET / HTTP/1.1\r\nHost: h\r\nx-consumer-id: spoof\r\nX-CONSUMER-ID: spoof2\r\nX-Keep: 1\r\nX-Forwarded-For: 1.2.3.4\r\nCookie: a=b\r\n\r\n")
	req.Header.Set("X-Anonymous-Consumer", "true")
	if m := names.Present(&req.Header); m != 0b1101 {
		t.Fatalf("present %04b, want 1101", m)
	}
	names.Del(&req.Header, 1<<3) // keep X-Forwarded-For
	for _, k := range []string{"X-Consumer-Id", "X-Anonymous-Consumer"} {
		if v := req.Header.Peek(k); v != nil {
			t.Errorf("%s still present: %q", k, v)
		}
	}
	if string(req.Header.Peek("X-Keep")) != "1" || string(req.Header.Peek("X-Forwarded-For")) != "1.2.3.4" || string(req.Header.Cookie("a")) != "b" {
		t.Errorf("other headers changed:\n%s", req.Header.Header())
	}
	names.Del(&req.Header, 0)
	if names.Present(&req.Header) != 0 {
		t.Errorf("names left:\n%s", req.Header.Header())
	}

	// More than 64 names, and long ones.
	var many []string
	for i := range 70 {
		many = append(many, fmt.Sprintf("X-N%d", i))
	}
	long := "X-" + strings.Repeat("l", 200)
	many = append(many, long)
	set := NewHeaderNames(many...)
	req = parseRequest(t, "GET / HTTP/1.1\r\nHost: h\r\nx-n3: a\r\nX-N66: b\r\n"+long+": c\r\nX-N700: keep\r\n\r\n")
	if m := set.Present(&req.Header); m != 1<<3 {
		t.Errorf("present among the first 64: %b", m)
	}
	set.Del(&req.Header, 0)
	if got := string(req.Header.Header()); strings.Contains(got, "X-N3:") || strings.Contains(got, "X-N66") || strings.Contains(got, "X-Lll") || !strings.Contains(got, "X-N700: keep") {
		t.Errorf("after Del:\n%s", got)
	}
}

// BenchmarkHeaderNames compares removing five absent headers with
// HeaderNames.Del and with fasthttp's Del per name.
func BenchmarkHeaderNames(b *testing.B) {
	raw := "GET /v1/items HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Mozilla/5.0\r\nAccept: application/json\r\nAuthorization: Bearer abc.def.ghi\r\n\r\n"
	list := []string{"X-Consumer-ID", "X-Consumer-Custom-ID", "X-Consumer-Username", "X-Credential-Identifier", "X-Anonymous-Consumer"}
	names := NewHeaderNames(list...)
	req := parseRequest(b, raw)
	b.Run("HeaderNames.Del", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			names.Del(&req.Header, 0)
		}
	})
	b.Run("fasthttp.Del", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, n := range list {
				req.Header.Del(n)
			}
		}
	})
}
