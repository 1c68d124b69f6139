package proxy

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzFraming parses arbitrary request heads with fasthttp and runs the
// framing and request-line checks: they must never panic, and a request
// they accept must not carry both Content-Length and Transfer-Encoding.
func FuzzFraming(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n",
		"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReader(bytes.NewReader(data))); err != nil {
			return
		}
		checkRequestLine(&h)
		if checkFraming(&h) == "" {
			raw := strings.ToLower(string(h.RawHeaders()))
			if strings.Contains(raw, "\ncontent-length:") && strings.Contains(raw, "\ntransfer-encoding:") {
				t.Fatalf("accepted CL+TE: %q", data)
			}
		}
	})
}
