// Package upstreamtest holds raw upstreams for tests of how the gateway copes
// with what a fasthttp backend would never send: a body cut short, a body
// that ends when the connection closes, a connection closed without notice
// (OneShot), malformed responses on a kept-alive connection (KeepAlive).
package upstreamtest

import (
	"bufio"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// OneShot listens on loopback and answers one request per connection: it
// reads the request (head, and a body of the Content-Length it announces,
// or a chunked one), writes what answer returns for the request line, and
// closes the connection without saying so. It returns the address and the
// number of connections accepted so far; the listener closes when the test
// ends.
func OneShot(t testing.TB, answer func(requestLine string) string) (addr string, conns *atomic.Int32) {
	t.Helper()
	return OneShotHead(t, func(head string) string {
		return answer(head[:strings.IndexByte(head, '\n')+1])
	})
}

// OneShotHead is OneShot with answer given the whole request head as
// received (request line and header lines, each with its CRLF, without the
// blank line).
func OneShotHead(t testing.TB, answer func(head string) string) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func(c net.Conn) {
				defer c.Close()
				head, ok := readRequest(bufio.NewReader(c))
				if ok {
					io.WriteString(c, answer(head))
				}
			}(c)
		}
	}()
	return ln.Addr().String(), conns
}

// readRequest reads a request and returns its head. Reading it all
// matters: closing a socket with unread bytes resets the connection, which
// can discard the answer before the gateway reads it.
func readRequest(br *bufio.Reader) (string, bool) {
	var head strings.Builder
	n, chunked := 0, false
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", false
		}
		if l == "\r\n" {
			break
		}
		head.WriteString(l)
		k, v, ok := strings.Cut(l, ":")
		switch v = strings.TrimSpace(v); {
		case ok && strings.EqualFold(k, "content-length"):
			n, _ = strconv.Atoi(v)
		case ok && strings.EqualFold(k, "transfer-encoding"):
			chunked = strings.EqualFold(v, "chunked")
		}
	}
	if chunked {
		if _, err := io.Copy(io.Discard, httputil.NewChunkedReader(br)); err != nil {
			return "", false
		}
		for { // the trailer section, up to its blank line
			l, err := br.ReadString('\n')
			if err != nil {
				return "", false
			}
			if l == "\r\n" {
				break
			}
		}
	} else if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
		return "", false
	}
	return head.String(), true
}
