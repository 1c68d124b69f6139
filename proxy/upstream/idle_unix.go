//go:build unix

package upstream

import (
	"crypto/tls"
	"net"
	"sync"
	"syscall"

	"github.com/edgeguard/edgeguard/proxy/deadline"
)

// peerSent reports whether the upstream has sent anything on conn, an
// idle pooled connection, or closed it: a non-blocking MSG_PEEK of one
// byte on its socket (on a TLS connection, of the raw bytes under it: a
// record there is an alert or data nobody asked for). A connection whose
// socket cannot be reached counts as unread.
func peerSent(conn net.Conn) bool {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if dc, ok := conn.(*deadline.Conn); ok {
		conn = dc.Conn
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn() // allocates its RawConn (8 bytes)
	if err != nil {
		return false
	}
	p := peekers.Get().(*peeker)
	p.sent = false
	err = rc.Control(p.fn)
	sent := p.sent || err != nil
	peekers.Put(p)
	return sent
}

// peeker is peerSent's look at a socket, its function bound once so that
// a look allocates nothing more.
type peeker struct {
	b    [1]byte
	sent bool
	fn   func(fd uintptr)
}

var peekers = sync.Pool{New: func() any { p := new(peeker); p.fn = p.peek; return p }}

func (p *peeker) peek(fd uintptr) {
	for {
		// No error: bytes, or 0 for a close; an error other than EAGAIN:
		// a reset.
		_, _, err := syscall.Recvfrom(int(fd), p.b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err != syscall.EINTR {
			p.sent = err == nil || (err != syscall.EAGAIN && err != syscall.EWOULDBLOCK)
			return
		}
	}
}
