package proxy

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/proxy/upstream/upstreamtest"
)

// headCapture is an upstream that records the head of every request it
// gets and answers 200, closing the connection.
func headCapture(t *testing.T) (addr string, heads <-chan string) {
	ch := make(chan string, 16)
	addr, _ = upstreamtest.OneShotHead(t, func(head string) string {
		ch <- head
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
	})
	return addr, ch
}

// cookieLines returns the Cookie lines of a request head.
func cookieLines(head string) []string {
	var out []string
	for _, l := range strings.Split(head, "\r\n") {
		if name, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(name, "cookie") {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// TestCookiesForwardedAsSent: the Cookie header reaches the upstream as the
// client sent it, also on routes with filters and with forwarded headers
// from the client (where the gateway passes over all headers, which makes
// fasthttp parse the cookies and, before, write its own rendering: quotes
// and spacing changed). A transformer removing Cookie (the one change it
// may make to it) is obeyed, and a Cookie named in Connection is dropped.
func TestCookiesForwardedAsSent(t *testing.T) {
	up, heads := headCapture(t)
	g := startGateway(t, `
services: [{name: up, targets: ["`+up+`"]}]
routes:
  - {name: plain, paths: ["/plain"], service: up}
  - {name: filtered, paths: ["/filtered"], service: up, plugins: [size]}
  - {name: removed, paths: ["/removed"], service: up, plugins: [nocookie]}
plugins:
  - {name: size, plugin: request-size-limiting, config: {allowed_payload_size: 10, size_unit: megabytes}}
  - {name: nocookie, plugin: request-transformer, config: {remove: {headers: [cookie]}}}
`)
	const odd = `a=1;b=2;  c ; d="x y"; e=%20z,w`
	for _, tc := range []struct {
		name, path, extra string
		want              []string
	}{
		{"plain", "/plain", "Cookie: " + odd + "\r\n", []string{odd}},
		{"client XFF", "/plain", "X-Forwarded-For: 10.9.9.9\r\nCookie: " + odd + "\r\n", []string{odd}},
		{"filtered", "/filtered", "Cookie: " + odd + "\r\n", []string{odd}},
		{"two lines", "/filtered", "Cookie: a=\"1\"\r\nCookie:  b=2 \r\n", []string{`a="1"`, "b=2"}},
		{"removed by a filter", "/removed", "Cookie: " + odd + "\r\n", nil},
		{"named in Connection", "/filtered", "Connection: cookie\r\nCookie: " + odd + "\r\n", nil},
		{"none", "/filtered", "", nil},
		// Streamed on through fasthttp's transport, which renders cookies
		// itself once they were parsed (by the filter chain's pass over the
		// headers); a route without filters forwards them as sent.
		{"streamed upload, filtered", "/filtered", "Cookie: " + odd + "\r\nTransfer-Encoding: chunked\r\n", []string{`a=1; b=2; c; d=x y; e=%20z,w`}},
		{"streamed upload, plain", "/plain", "Cookie: " + odd + "\r\nTransfer-Encoding: chunked\r\n", []string{odd}},
	} {
		conn, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		req := "GET " + tc.path + " HTTP/1.1\r\nHost: a\r\n" + tc.extra + "\r\n"
		if strings.Contains(tc.extra, "chunked") {
			// 1 MiB in chunks: streamed on through fasthttp's transport
			chunk := "10000\r\n" + strings.Repeat("u", 0x10000) + "\r\n"
			req = strings.Replace(req, "GET", "POST", 1) + strings.Repeat(chunk, 16) + "0\r\n\r\n"
		}
		conn.Write([]byte(req))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%s: %v %v", tc.name, res, err)
		}
		head := <-heads
		if got := cookieLines(head); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: upstream got Cookie %q, want %q\n%s", tc.name, got, tc.want, head)
		}
	}
}
