package upstreamtest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// KeepAlive is a raw keep-alive upstream, for tests of malformed
// responses: it reads each request on a connection (head and body), lets
// its answer function write anything for it, and logs on which connection
// each request came.
type KeepAlive struct {
	Addr string
	mu   sync.Mutex
	log  []Req
}

// Req is a request KeepAlive received: the connection it came on
// (numbered from 1 in accept order) and its path.
type Req struct {
	Conn int
	Path string
}

// StartKeepAlive starts a KeepAlive on loopback. answer writes the answer
// to a request for method and path to c and returns false to close the
// connection. The listener and the connections close when the test ends.
func StartKeepAlive(t testing.TB, answer func(c net.Conn, method, path string) bool) *KeepAlive {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &KeepAlive{Addr: ln.Addr().String()}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := 1; ; id++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(2)
			go func() { defer wg.Done(); <-done; c.Close() }()
			go func(id int) {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					u.mu.Lock()
					u.log = append(u.log, Req{id, req.URL.Path})
					u.mu.Unlock()
					if !answer(c, req.Method, req.URL.Path) {
						return
					}
				}
			}(id)
		}
	}()
	return u
}

// Log returns the requests received so far, in order.
func (u *KeepAlive) Log() []Req {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Req(nil), u.log...)
}

// SameConn reports whether the last requests for paths a and b came on
// the same connection.
func (u *KeepAlive) SameConn(t testing.TB, a, b string) bool {
	t.Helper()
	ca, cb := 0, 0
	log := u.Log()
	for _, r := range log {
		switch r.Path {
		case a:
			ca = r.Conn
		case b:
			cb = r.Conn
		}
	}
	if ca == 0 || cb == 0 {
		t.Fatalf("upstream log %v has no %s or no %s", log, a, b)
	}
	return ca == cb
}

// Count returns how many requests for path came.
func (u *KeepAlive) Count(path string) int {
	n := 0
	for _, r := range u.Log() {
		if r.Path == path {
			n++
		}
	}
	return n
}
