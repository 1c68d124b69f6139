// Package upstreamtest is a raw upstream for tests of how the gateway copes
// with what a fasthttp backend would never send: a body cut short, a body
// that ends when the connection closes, a connection closed without notice.
package upstreamtest

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// OneShot listens on loopback and answers one request per connection: it
// reads the request (head, and a body of the Content-Length it announces),
// writes what answer returns for the request line, and closes the
// connection without saying so. It returns the address and the number of
// connections accepted so far; the listener closes when the test ends.
func OneShot(t testing.TB, answer func(requestLine string) string) (addr string, conns *atomic.Int32) {
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
				line, ok := readRequest(bufio.NewReader(c))
				if ok {
					io.WriteString(c, answer(line))
				}
			}(c)
		}
	}()
	return ln.Addr().String(), conns
}

// readRequest reads a request and returns its request line. Reading it all
// matters: closing a socket with unread bytes resets the connection, which
// can discard the answer before the gateway reads it.
func readRequest(br *bufio.Reader) (string, bool) {
	first, err := br.ReadString('\n')
	if err != nil {
		return "", false
	}
	n := 0
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", false
		}
		if l == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "content-length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
		return "", false
	}
	return first, true
}
