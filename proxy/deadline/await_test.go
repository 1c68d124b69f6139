//go:build unix

package deadline

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// readable reports, without blocking or consuming anything, how many bytes
// c's socket holds (0 with EAGAIN).
func readable(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	buf := make([]byte, 64)
	rc.Read(func(fd uintptr) bool {
		n, _, err = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	if err == syscall.EAGAIN {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// answer reads n bytes from c, waits delay and writes reply, rounds times.
func answer(c net.Conn, n int, delay time.Duration, reply string, rounds int) <-chan error {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, n)
		for range rounds {
			if _, err := io.ReadFull(c, buf); err != nil {
				done <- err
				return
			}
			time.Sleep(delay)
			if _, err := c.Write([]byte(reply)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// fresh makes c's next WriteAwait at now wait, as if it had been called
// just before.
func fresh(c *Conn, now int64) {
	if c.aw == nil {
		c.aw = newAwaiter(c)
	}
	c.aw.last = now
}

// TestWriteAwait checks that WriteAwait returns only once the answer is
// there to read (the peer answers 20 ms after the request), exchange after
// exchange on one connection, and that Read then reads it; except on the
// connection's first exchange and after it sat idle for more than
// awaitFresh, where it returns after the write, as Write does. A
// WriteAwait that never waited, or always, fails it.
func TestWriteAwait(t *testing.T) {
	upstream, peer := tcpPair(t, 10*time.Millisecond)
	c := upstream.(*Conn)
	ms := int64(time.Millisecond)
	base := Now()
	exchanges := []struct {
		now   int64
		await bool
	}{
		{base, false}, // a new connection
		{base + ms, true},
		{base + 2*ms, true},
		{base + 2*ms + awaitFresh + ms, false}, // idle for longer than awaitFresh
		{base + 3*ms + awaitFresh + ms, true},
		{base + 3*ms + 2*awaitFresh, true}, // just awaitFresh after the last
	}
	done := answer(peer, len("ping\n"), 20*time.Millisecond, "pong\n", len(exchanges))
	buf := make([]byte, 16)
	for i, x := range exchanges {
		c.SetReadDeadlineAt(Now() + int64(5*time.Second))
		if n, err := c.WriteAwait([]byte("ping\n"), x.now); n != 5 || err != nil {
			t.Fatalf("exchange %d: WriteAwait: %d, %v", i, n, err)
		}
		want := 0
		if x.await {
			want = 5
		}
		if n := readable(t, c.Conn); n != want {
			t.Fatalf("exchange %d: %d bytes readable after WriteAwait, want %d (waited: %v)", i, n, want, x.await)
		}
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "pong\n" {
			t.Fatalf("exchange %d: Read: %q, %v", i, buf[:n], err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestWriteAwaitDeadline: a peer that never answers ends the wait at the
// read deadline, which the following Read reports.
func TestWriteAwaitDeadline(t *testing.T) {
	upstream, peer := tcpPair(t, 10*time.Millisecond)
	c := upstream.(*Conn)
	go io.Copy(io.Discard, peer)
	fresh(c, Now())
	c.SetReadDeadlineAt(Now() + int64(100*time.Millisecond))
	if n, err := c.WriteAwait([]byte("ping\n"), Now()); n != 5 || err != nil {
		t.Fatalf("WriteAwait: %d, %v", n, err)
	}
	if _, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after the wait: %v, want a deadline error", err)
	}
	// A deadline already past: the write still goes out.
	if n, err := c.WriteAwait([]byte("ping\n"), Now()); n != 5 || err != nil {
		t.Fatalf("WriteAwait past the deadline: %d, %v", n, err)
	}
}

// TestWriteAwaitLarge writes more than the socket buffers hold to a peer
// that starts reading late: the rest goes out through Write, every byte
// arrives in order, and the answer is read after it.
func TestWriteAwaitLarge(t *testing.T) {
	upstream, peer := tcpPair(t, 10*time.Millisecond)
	c := upstream.(*Conn)
	p := make([]byte, 16<<20)
	for i := range p {
		p[i] = byte(i * 7 >> 3)
	}
	sum := make(chan uint32, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		h := crc32.NewIEEE()
		io.CopyN(h, peer, int64(len(p)))
		sum <- h.Sum32()
		peer.Write([]byte("ok"))
	}()
	c.SetReadDeadlineAt(Now() + int64(time.Minute))
	fresh(c, Now())
	start := time.Now()
	if n, err := c.WriteAwait(p, Now()); n != len(p) || err != nil {
		t.Fatalf("WriteAwait: %d, %v", n, err)
	}
	// Waiting after a partial write would last until the deadline: the
	// peer answers only after the whole of p.
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("WriteAwait took %v", took)
	}
	if got := <-sum; got != crc32.ChecksumIEEE(p) {
		t.Fatal("the peer received other bytes than were written")
	}
	buf := make([]byte, 8)
	if n, err := io.ReadFull(c, buf[:2]); n != 2 || err != nil || string(buf[:2]) != "ok" {
		t.Fatalf("Read: %q, %v", buf[:n], err)
	}
}

// TestWriteAwaitClosed: a peer that has closed the connection (a stale
// pooled connection) ends the wait, and Read reports the close, without
// waiting for the deadline.
func TestWriteAwaitClosed(t *testing.T) {
	upstream, peer := tcpPair(t, 10*time.Millisecond)
	c := upstream.(*Conn)
	peer.Close()
	time.Sleep(20 * time.Millisecond) // the FIN arrives
	c.SetReadDeadlineAt(Now() + int64(time.Minute))
	fresh(c, Now())
	start := time.Now()
	c.WriteAwait([]byte("ping\n"), Now())
	_, err := c.Read(make([]byte, 8))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read on a closed connection: %v", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("the close was seen after %v", took)
	}
}

// TestWriteAwaitNoFD: a connection without a file descriptor gets Write.
func TestWriteAwaitNoFD(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := Wrap(a, time.Millisecond)
	got := make(chan []byte, 1)
	go func() { buf := make([]byte, 5); io.ReadFull(b, buf); got <- buf }()
	if n, err := c.WriteAwait([]byte("ping\n"), Now()); n != 5 || err != nil {
		t.Fatalf("WriteAwait: %d, %v", n, err)
	}
	if p := <-got; !bytes.Equal(p, []byte("ping\n")) {
		t.Fatalf("peer read %q", p)
	}
}

// BenchmarkExchange is a request/answer exchange over loopback with a
// peer goroutine answering: "write" is Write then Read (the Read finds
// nothing yet first, EAGAIN, when the peer has not run), "await" is
// WriteAwait then Read. 0 allocs/op either way.
func BenchmarkExchange(b *testing.B) {
	for _, mode := range []string{"write", "await"} {
		b.Run(mode, func(b *testing.B) {
			upstream, peer := tcpPair(b, 500*time.Millisecond)
			c := upstream.(*Conn)
			go func() {
				buf := make([]byte, 64)
				for {
					if _, err := io.ReadFull(peer, buf[:5]); err != nil {
						return
					}
					if _, err := peer.Write(buf[:5]); err != nil {
						return
					}
				}
			}()
			msg, buf := []byte("ping\n"), make([]byte, 64)
			c.SetReadDeadlineAt(Now() + int64(time.Hour))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if mode == "await" {
					_, err = c.WriteAwait(msg, Now())
				} else {
					_, err = c.Write(msg)
				}
				if err == nil {
					_, err = io.ReadFull(c, buf[:5])
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
