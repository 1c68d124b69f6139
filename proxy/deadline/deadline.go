// Package deadline coalesces connection deadlines.
//
// fasthttp sets a connection's read or write deadline up to five times per
// proxied request (the server's idle, read and write timeouts; the upstream
// client's write and read timeouts). Each call re-arms a runtime timer, and
// together they cost about 2 µs of a ~20 µs proxied request on one core
// (measured with an alternating wrk A/B, see README.md). Almost all of them
// move the deadline by a few microseconds or flip between the same two
// values, and most never matter: a deadline is only consulted while a Read or
// Write blocks.
//
// A Conn therefore records the deadline it is asked for and hands it to the
// real connection only on the next Read or Write, and only when it differs
// from the one already armed by at least the slack (or one of them is
// unset). The armed deadline is thus always within the slack of the one
// asked for, so a timeout fires at most the slack early or late. The slack is
// chosen by the caller as a fraction of the shortest timeout (Slack).
//
// The deferral assumes what fasthttp does: deadlines are set by the goroutine
// that reads and writes the connection, never to interrupt a Read blocked in
// another goroutine (fasthttp's Shutdown closes idle connections instead).
package deadline

import (
	"net"
	"time"
)

// MaxSlack bounds Slack.
const MaxSlack = time.Second

// Slack is the coalescing slack for a connection whose shortest timeout is
// shortest: an eighth of it, at most MaxSlack. Zero (no timeouts) gives
// MaxSlack, which then only matters for deadlines set by other callers.
func Slack(shortest time.Duration) time.Duration {
	if shortest <= 0 || shortest/8 > MaxSlack {
		return MaxSlack
	}
	return shortest / 8
}

// Conn is a net.Conn whose deadlines are applied lazily; see the package doc.
// It is used by one goroutine at a time, as fasthttp uses its connections.
type Conn struct {
	net.Conn
	slack        int64 // nanoseconds
	wantR, haveR int64 // Unix nanoseconds; 0 = no deadline
	wantW, haveW int64
}

// Wrap returns c with deadlines coalesced within slack.
func Wrap(c net.Conn, slack time.Duration) *Conn {
	return &Conn{Conn: c, slack: int64(slack)}
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if n := t.UnixNano(); n != 0 {
		return n
	}
	return 1
}

// SetDeadline records t for both directions.
func (c *Conn) SetDeadline(t time.Time) error {
	c.wantR = unixNano(t)
	c.wantW = c.wantR
	return nil
}

// SetReadDeadline records t for the next Read.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.wantR = unixNano(t)
	return nil
}

// SetWriteDeadline records t for the next Write.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wantW = unixNano(t)
	return nil
}

// stale reports whether the armed deadline have must be replaced by want.
func (c *Conn) stale(want, have int64) bool {
	if want == have {
		return false
	}
	if want == 0 || have == 0 {
		return true
	}
	d := want - have
	return d >= c.slack || d <= -c.slack
}

func at(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Read arms the recorded read deadline if it moved by the slack, then reads.
func (c *Conn) Read(p []byte) (int, error) {
	if c.stale(c.wantR, c.haveR) {
		if err := c.Conn.SetReadDeadline(at(c.wantR)); err != nil {
			return 0, err
		}
		c.haveR = c.wantR
	}
	return c.Conn.Read(p)
}

// Write arms the recorded write deadline if it moved by the slack, then writes.
func (c *Conn) Write(p []byte) (int, error) {
	if c.stale(c.wantW, c.haveW) {
		if err := c.Conn.SetWriteDeadline(at(c.wantW)); err != nil {
			return 0, err
		}
		c.haveW = c.wantW
	}
	return c.Conn.Write(p)
}

// Listener wraps every accepted connection in a Conn.
type Listener struct {
	net.Listener
	Slack time.Duration
}

// Accept waits for the next connection and wraps it.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c, l.Slack), nil
}
