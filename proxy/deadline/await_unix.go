//go:build unix

package deadline

import (
	"syscall"
	"time"
)

// awaitFresh is how recently a connection must have been written with
// WriteAwait for WriteAwait to wait on it (see there). Upstreams close idle
// connections after seconds (node: 5 s, nginx: 75 s); under load a pooled
// connection is reused within milliseconds.
const awaitFresh = int64(time.Second)

// awaiter is a Conn's state for WriteAwait, made on its first call: the
// raw connection and the step function bound to it once, so that a call
// allocates nothing.
type awaiter struct {
	rc    syscall.RawConn
	step  func(fd uintptr) bool
	p     []byte
	n     int   // bytes of p written by the raw write
	wrote bool  // the raw write was made
	last  int64 // Now's reading at the previous call
}

// newAwaiter returns c's awaiter, or nil when the wrapped connection has no
// file descriptor to wait on (a TLS connection, a pipe in a test).
func newAwaiter(c *Conn) *awaiter {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	a := &awaiter{rc: rc}
	a.step = a.stepFn
	return a
}

// stepFn is called by RawConn.Read: first to write p (after the poller's
// readiness was reset, so that an answer arriving from then on wakes the
// wait), then each time the socket became readable. It returns true to end
// the wait: after a wake-up, or when the write did not take all of p (the
// caller finishes it with Write, which also reports its error).
func (a *awaiter) stepFn(fd uintptr) bool {
	if a.wrote {
		return true // readable, or a spurious wake-up, which Read copes with
	}
	a.wrote = true
	for {
		n, err := syscall.Write(int(fd), a.p)
		if err == syscall.EINTR {
			continue
		}
		if n > 0 {
			a.n = n
		}
		return err != nil || n < len(a.p)
	}
}

// WriteAwait writes p like Write and then, if p went out whole in one
// write, waits until the connection is readable (or its read deadline,
// armed first, passes: the following Read then reports it) before it
// returns. It is for a request whose answer is read next: the Read after a
// plain Write almost always finds nothing yet and returns EAGAIN before Go
// waits for the socket, a system call per exchange (about half of the
// upstream reads under wrk on one core, where the upstream cannot answer
// before the proxy waits). nginx saves the same call by reading only after
// epoll reported the socket readable.
//
// The write is made inside RawConn.Read, after Go's poller has reset the
// socket's readiness: an answer arriving after the write cannot be missed,
// as it could be by waiting after a Write returned. Bytes the peer sent
// before the write (not an answer to it) do not end the wait; the read
// deadline bounds it. Without a file descriptor (TLS), it is Write.
//
// now is a reading of Now just taken. A connection last written with
// WriteAwait more than awaitFresh before now, or never, is written with
// Write: one that sat idle may have been closed by the peer, and the wait
// after writing to it would then last until the peer's reset arrives (or,
// where a middlebox drops it, the read deadline), where a Read sees the
// close at once.
func (c *Conn) WriteAwait(p []byte, now int64) (int, error) {
	if c.aw == nil {
		if c.managed || c.noAwait {
			return c.Write(p)
		}
		if c.aw = newAwaiter(c); c.aw == nil {
			c.noAwait = true
			return c.Write(p)
		}
	}
	a := c.aw
	last := a.last
	a.last = now
	if now-last > awaitFresh || last == 0 {
		return c.Write(p)
	}
	if c.stale(c.wantR, c.haveR) {
		if err := c.Conn.SetReadDeadline(toTime(c.wantR)); err != nil {
			return c.Write(p)
		}
		c.haveR = c.wantR
	}
	a.p, a.n, a.wrote = p, 0, false
	_ = a.rc.Read(a.step) // a wait that ended early leaves its error to Read
	n := a.n
	a.p = nil
	if n == len(p) {
		return n, nil
	}
	// Not written whole (the send buffer was full, or an error, or the
	// deadline had passed before the write): the rest the usual way.
	m, err := c.Write(p[n:])
	return n + m, err
}
