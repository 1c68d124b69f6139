// Package deadline coalesces connection deadlines and, for the public
// listeners, keeps the server's read, write and idle timeouts itself. Its
// Conn also keeps the peer's address, parsed and formatted once (Peer,
// AppendPeer), and Now is the monotonic clock the gateway measures requests
// on.
//
// fasthttp arms a connection's deadlines up to five times per proxied
// request (the server's idle, read and write timeouts; the upstream client's
// write and read timeouts), each time reading the clock and re-arming a Go
// runtime timer. Measured with an alternating wrk A/B on one core, that was
// about 2 µs of a ~20 µs proxied request (README.md). Yet a deadline only
// matters while a Read or Write blocks, and almost every re-arming moves it by
// microseconds.
//
// A Conn therefore records the deadline it is asked for and hands it to the
// socket only on the next Read or Write, and only when it differs from the
// armed one by at least the slack (or one of them is unset). The armed
// deadline is always within the slack of the one asked for, so a timeout
// fires at most the slack early or late.
//
// A Conn accepted by a Listener with Timeouts also tracks the phases of an
// HTTP/1.1 connection itself, so that the server needs no deadline calls at
// all: a new connection is reading a request (Timeouts.Read from accept,
// a TLS handshake included); StartWrite starts a response (Timeouts.Write
// from the reading of the clock given to it; a Write without it is interim,
// such as "100 Continue", and the request goes on); the first Read after a
// response waits for the next request (Timeouts.Idle), and its
// first byte starts reading that request (Timeouts.Read, counted from the
// next Read, which comes at once when the request is incomplete: a request
// that arrives whole needs no deadline, and no clock reading, of its own).
// These are the semantics of fasthttp's ReadTimeout, WriteTimeout and
// IdleTimeout, with one clock reading per request (the idle phase's) where
// fasthttp makes three, and without time.Time arithmetic.
//
// The deferral assumes what fasthttp does: deadlines are set by the
// goroutine that reads and writes the connection, never to interrupt a Read
// blocked in another goroutine (fasthttp's shutdown closes idle connections
// instead).
package deadline

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// MaxSlack bounds Slack.
const MaxSlack = time.Second

// Slack is the coalescing slack for a connection with the given timeouts:
// an eighth of the shortest positive one, at most MaxSlack. No positive
// timeout gives MaxSlack, which then only matters for deadlines set by
// other callers.
func Slack(timeouts ...time.Duration) time.Duration {
	var shortest time.Duration
	for _, d := range timeouts {
		if d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	if shortest == 0 || shortest/8 > MaxSlack {
		return MaxSlack
	}
	return shortest / 8
}

// Timeouts are the per-phase limits a Listener's connections keep
// themselves. A zero field means no limit for that phase.
type Timeouts struct {
	Read  time.Duration // from the first byte of a request (or accept) until it is read
	Write time.Duration // from the first byte of a response until it is written
	Idle  time.Duration // between a response and the next request's first byte
}

// epoch is the origin of the monotonic nanosecond clock deadlines are kept in.
var epoch = time.Now()

// Now reads the clock deadlines are kept in: monotonic nanoseconds since
// the package's epoch, one clock reading (time.Since makes one where
// time.Now makes two). Readings of it are compared and added to without
// time.Time arithmetic (time.Time.Add is ~60 instructions).
func Now() int64 { return int64(time.Since(epoch)) }

// FromTime converts t to Now's clock (its monotonic reading if it has one).
func FromTime(t time.Time) int64 { return int64(t.Sub(epoch)) }

// Time converts a reading of Now's clock to a time.Time.
func Time(n int64) time.Time { return epoch.Add(time.Duration(n)) }

// fromTime converts a deadline to Now's clock: 0 is no deadline, and
// anything at or before epoch becomes 1 (already passed).
func fromTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(FromTime(t), 1)
}

// toTime converts a deadline on Now's clock back (0: none).
func toTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return Time(n)
}

// Connection phases (only with Timeouts).
const (
	reading uint8 = iota // a request is being read
	writing              // a response is being written
	interim              // something else is being written: see Write
	idle                 // waiting for the next request
)

// readPending is wantR in a reading phase whose deadline is set by its
// next Read (Timeouts.Read from then).
const readPending = -1

// Conn is a net.Conn whose deadlines are applied lazily; see the package doc.
// It is used by one goroutine at a time, as fasthttp uses its connections,
// with one exception on a connection that keeps its Timeouts: when
// fasthttp's Shutdown closes an idle TLS connection, crypto/tls sets a
// write deadline and writes its close_notify alert from the shutting-down
// goroutine while the serving one is blocked in Read. A deadline set on
// such a connection (fasthttp sets none there) therefore marks it foreign:
// deadlines and writes then go straight to the wrapped connection, without
// the phase state the serving goroutine owns.
type Conn struct {
	net.Conn
	slack        int64
	wantR, haveR int64 // Now's clock; 0 = no deadline (wantR: or readPending)
	wantW, haveW int64
	// Phase tracking, when managed.
	managed bool
	foreign atomic.Bool // see Conn
	phase   uint8
	t       Timeouts
	peer    netip.Addr  // see Peer
	peerTxt []byte      // see AppendPeer
	aw      *awaiter    // see WriteAwait
	noAwait bool        // WriteAwait cannot wait on this connection
	linger  atomic.Bool // see Linger
	// Head watch (see Listener.WatchHeads): the current request's head has
	// not ended yet, the bytes so far hold a bare LF pair (and no CRLF
	// CRLF), and the last three bytes read (for an end split across reads).
	watch, headOpen, lfEnd bool
	tail                   [3]byte
	// first: the next byte read starts a request (after accept or a
	// keep-alive wait); notHTTP: it could not (see ErrNotHTTP).
	first, notHTTP bool
}

// ErrNotHTTP is what Read returns on a watched connection whose request
// starts with a byte no request line can start with (a TLS handshake sent
// to the plain-HTTP port, a binary protocol): fasthttp would wait for a
// CRLF CRLF until the read timeout; the server answers 400 at once.
var ErrNotHTTP = errors.New("not an HTTP/1.x request")

// startTable holds the bytes a request can start with: a method's (token
// characters) and CR or LF (empty lines before a request are allowed,
// RFC 9112 §2.2).
var startTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c], t[c+'a'-'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~\r\n" {
		t[c] = true
	}
	return t
}()

// ErrBareLFHead is what Read returns, instead of waiting for more, on a
// watched connection whose request head ended with a bare LF (RFC 9112
// §2.2): fasthttp reads a head up to CRLF CRLF only, and would wait for the
// rest until the read timeout. The server then answers 400 at once.
var ErrBareLFHead = errors.New("request head ended by a bare LF")

// watchHead notes b, just read in a reading phase while the head is open.
// The common request's head ends its read: one comparison.
func (c *Conn) watchHead(b []byte) {
	if c.first {
		c.first = false
		if !startTable[b[0]] {
			c.notHTTP = true
			return
		}
	}
	if n := len(b); n >= 4 && string(b[n-4:]) == "\r\n\r\n" {
		c.headOpen = false
		return
	}
	var buf [3 + 4]byte // the tail before b and b's first bytes, for a split CRLF CRLF
	j := copy(buf[:], c.tail[:])
	j += copy(buf[j:], b)
	if bytes.Contains(buf[:j], crlfcrlf) || bytes.Contains(b, crlfcrlf) {
		c.headOpen = false
		return
	}
	// No CRLF CRLF so far: a bare LF pair anywhere ended the head (a body
	// follows the head's end, never comes before it).
	c.lfEnd = bytes.Contains(buf[:j], lflf) || bytes.Contains(b, lflf)
	if len(b) >= 3 {
		copy(c.tail[:], b[len(b)-3:])
	} else {
		k := copy(c.tail[:], c.tail[len(b):])
		copy(c.tail[k:], b)
	}
}

var (
	crlfcrlf = []byte("\r\n\r\n")
	lflf     = []byte("\n\n")
)

// Linger makes Close a lingering close, for a connection ended by an
// error response while the client may still be sending (a body over the
// limit, a refused request): Close then shuts down the writing side only
// and reads and discards what still comes, for up to LingerTime and
// LingerBytes, before it closes. Closing with unread bytes would make the
// kernel answer them with a reset, which can destroy the response on its
// way to the client (nginx's lingering_close; net/http's closeWriteAndWait).
func (c *Conn) Linger() { c.linger.Store(true) }

// LingerTime and LingerBytes bound a lingering close (see Linger).
var (
	LingerTime  = 2 * time.Second
	LingerBytes = int64(16 << 20)
)

// Close closes the connection, lingering after Linger (in a goroutine of
// its own, so the caller does not wait).
func (c *Conn) Close() error {
	if !c.linger.Load() {
		return c.Conn.Close()
	}
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return c.Conn.Close()
	}
	go func(conn net.Conn) {
		conn.SetReadDeadline(time.Now().Add(LingerTime))
		io.CopyN(io.Discard, conn, LingerBytes)
		conn.Close()
	}(c.Conn)
	return nil
}

// Peer returns the address of the remote end (IPv4-mapped addresses
// unmapped; the zero Addr if it is not an IP address). It is parsed on
// the first call and kept: the gateway reads it on every request, and
// RemoteAddr is several dependent loads away (through the wrapped
// connection's file descriptor), measured at ~100 ns a request under load.
func (c *Conn) Peer() netip.Addr {
	if !c.peer.IsValid() {
		if a, ok := c.Conn.RemoteAddr().(*net.TCPAddr); ok {
			ip, _ := netip.AddrFromSlice(a.IP)
			c.peer = ip.Unmap()
		}
	}
	return c.peer
}

// AppendPeer appends Peer's text form to dst, formatted on the first call
// and kept (the gateway writes it into X-Forwarded-For on every request).
func (c *Conn) AppendPeer(dst []byte) []byte {
	if c.peerTxt == nil {
		c.peerTxt = c.Peer().AppendTo(make([]byte, 0, len("255.255.255.255")))
	}
	return append(dst, c.peerTxt...)
}

// Wrap returns c with deadlines coalesced within slack.
func Wrap(c net.Conn, slack time.Duration) *Conn {
	return &Conn{Conn: c, slack: int64(slack)}
}

// WrapServer returns c with deadlines coalesced within slack and the phase
// timeouts t kept by the Conn, starting in the reading phase.
func WrapServer(c net.Conn, slack time.Duration, t Timeouts) *Conn {
	cc := &Conn{Conn: c, slack: int64(slack), managed: true, t: t}
	if t.Read > 0 {
		cc.wantR = Now() + int64(t.Read)
	}
	return cc
}

// SetDeadline records t for both directions (on a connection that keeps
// its Timeouts: see Conn).
func (c *Conn) SetDeadline(t time.Time) error {
	if c.managed {
		c.foreign.Store(true)
		return c.Conn.SetDeadline(t)
	}
	c.wantR = fromTime(t)
	c.wantW = c.wantR
	return nil
}

// SetReadDeadline records t for the next Read (on a connection that keeps
// its Timeouts: see Conn).
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.managed {
		c.foreign.Store(true)
		return c.Conn.SetReadDeadline(t)
	}
	c.wantR = fromTime(t)
	return nil
}

// SetReadDeadlineAt records a read deadline at n on Now's clock (0: none).
func (c *Conn) SetReadDeadlineAt(n int64) { c.wantR = n }

// SetWriteDeadlineAt records a write deadline at n on Now's clock (0: none).
func (c *Conn) SetWriteDeadlineAt(n int64) { c.wantW = n }

// SetWriteDeadline records t for the next Write (on a connection that
// keeps its Timeouts: see Conn).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.managed {
		c.foreign.Store(true)
		return c.Conn.SetWriteDeadline(t)
	}
	c.wantW = fromTime(t)
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

// Read arms the read deadline if it moved by the slack, then reads.
func (c *Conn) Read(p []byte) (int, error) {
	if c.headOpen && (c.lfEnd || c.notHTTP) {
		if c.notHTTP {
			c.notHTTP = false
			return 0, ErrNotHTTP
		}
		c.lfEnd = false
		return 0, ErrBareLFHead
	}
	if c.managed {
		switch c.phase {
		case interim:
			// The write was not a response: the request goes on, under the
			// read deadline it had (or is about to get, below).
			c.phase = reading
		case writing:
			c.phase = idle
			c.wantR = 0
			if c.t.Idle > 0 {
				c.wantR = Now() + int64(c.t.Idle)
			}
		}
		if c.wantR == readPending {
			c.wantR = Now() + int64(c.t.Read)
		}
	}
	if c.stale(c.wantR, c.haveR) {
		if err := c.Conn.SetReadDeadline(toTime(c.wantR)); err != nil {
			return 0, err
		}
		c.haveR = c.wantR
	}
	n, err := c.Conn.Read(p)
	if c.managed && c.phase == idle && n > 0 {
		c.phase = reading
		c.wantR = 0
		if c.t.Read > 0 {
			c.wantR = readPending
		}
		c.headOpen, c.tail, c.first = c.watch, [3]byte{}, c.watch
	}
	if c.headOpen && n > 0 {
		c.watchHead(p[:n])
	}
	return n, err
}

// StartWrite starts the writing phase of a connection that keeps its
// Timeouts at n, a reading of Now the caller has just taken (the gateway's
// log phase, right before the server writes the response), so that the
// first Write need not read the clock. Other connections ignore it.
//
// A connection already writing moves its write deadline to n: pipelined
// requests are answered with one write after the last of them was handled
// (fasthttp flushes only when no request is buffered), and the timeout
// counts from that response, not from the first one, which may have been
// ready longer than the timeout before.
func (c *Conn) StartWrite(n int64) {
	if !c.managed {
		return
	}
	c.phase = writing
	c.wantW = 0
	if c.t.Write > 0 {
		c.wantW = n + int64(c.t.Write)
	}
}

// Write arms the write deadline if it moved by the slack, then writes.
//
// On a connection that keeps its Timeouts, a Write that starts writing
// without StartWrite is taken for one that is not a response (interim): the
// interim "100 Continue" fasthttp writes before it reads a request's body,
// or a TLS handshake's messages. The next Read then goes on reading the
// request under its read deadline instead of starting the idle wait (which
// would give the body's first byte, or the rest of a handshake, idle_timeout
// instead of read_timeout). Whoever writes responses calls StartWrite first
// (the gateway does for every response; fasthttp's own error responses
// close the connection).
func (c *Conn) Write(p []byte) (int, error) {
	if c.managed && c.foreign.Load() {
		return c.Conn.Write(p)
	}
	if c.managed && c.phase != writing && c.phase != interim {
		c.phase = interim
		c.wantW = 0
		if c.t.Write > 0 {
			c.wantW = Now() + int64(c.t.Write)
		}
	}
	if c.stale(c.wantW, c.haveW) {
		if err := c.Conn.SetWriteDeadline(toTime(c.wantW)); err != nil {
			return 0, err
		}
		c.haveW = c.wantW
	}
	return c.Conn.Write(p)
}

// Listener wraps every accepted connection in a Conn. With Timeouts set, the
// connections keep those timeouts themselves (WrapServer) and the server
// must not set its own.
type Listener struct {
	net.Listener
	Slack    time.Duration
	Timeouts Timeouts
	// WatchHeads (plain HTTP only: under TLS the bytes are records) makes
	// each connection refuse a request head ended by a bare LF at once
	// (ErrBareLFHead) instead of waiting for a CRLF CRLF until the read
	// timeout.
	WatchHeads bool
}

// Accept waits for the next connection and wraps it.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.Timeouts != (Timeouts{}) {
		cc := WrapServer(c, l.Slack, l.Timeouts)
		cc.watch, cc.headOpen, cc.first = l.WatchHeads, l.WatchHeads, l.WatchHeads
		return cc, nil
	}
	return Wrap(c, l.Slack), nil
}
