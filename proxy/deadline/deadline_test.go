package deadline

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// countingConn records the deadlines handed to the real connection.
type countingConn struct {
	net.Conn
	reads, writes []time.Time
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.reads = append(c.reads, t)
	return nil
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.writes = append(c.writes, t)
	return nil
}

func (c *countingConn) Read(p []byte) (int, error)  { return len(p), nil }
func (c *countingConn) Write(p []byte) (int, error) { return len(p), nil }

func TestCoalescing(t *testing.T) {
	inner := &countingConn{}
	c := Wrap(inner, 100*time.Millisecond)
	base := time.Now()
	buf := make([]byte, 1)

	// Nothing is armed until a Read needs it.
	c.SetReadDeadline(base.Add(10 * time.Second))
	if len(inner.reads) != 0 {
		t.Fatal("deadline armed before any Read")
	}
	c.Read(buf)
	if len(inner.reads) != 1 || !inner.reads[0].Equal(base.Add(10*time.Second)) {
		t.Fatalf("first Read: armed %v", inner.reads)
	}
	// A thousand requests' worth of deadlines within the slack: no re-arming.
	for i := range 1000 {
		c.SetReadDeadline(base.Add(10*time.Second + time.Duration(i)*50*time.Microsecond))
		c.Read(buf)
	}
	if len(inner.reads) != 1 {
		t.Fatalf("deadlines within the slack re-armed %d times", len(inner.reads)-1)
	}
	// Later by the slack or more: armed.
	c.SetReadDeadline(base.Add(10*time.Second + 100*time.Millisecond))
	c.Read(buf)
	// Earlier by the slack or more: armed (a tighter timeout is never lost).
	c.SetReadDeadline(base.Add(time.Second))
	c.Read(buf)
	// Cleared: armed as zero; and set again after a clear: armed.
	c.SetReadDeadline(time.Time{})
	c.Read(buf)
	c.SetReadDeadline(base.Add(time.Second))
	c.Read(buf)
	want := []time.Time{base.Add(10 * time.Second), base.Add(10*time.Second + 100*time.Millisecond), base.Add(time.Second), {}, base.Add(time.Second)}
	if len(inner.reads) != len(want) {
		t.Fatalf("armed %v, want %v", inner.reads, want)
	}
	for i := range want {
		if !inner.reads[i].Equal(want[i]) {
			t.Fatalf("armed[%d] = %v, want %v", i, inner.reads[i], want[i])
		}
	}

	// Writes are independent of reads; SetDeadline sets both.
	c.SetDeadline(base.Add(5 * time.Second))
	c.Write(buf)
	if len(inner.writes) != 1 || !inner.writes[0].Equal(base.Add(5*time.Second)) {
		t.Fatalf("write deadline: %v", inner.writes)
	}
	c.Read(buf)
	if got := inner.reads[len(inner.reads)-1]; !got.Equal(base.Add(5 * time.Second)) {
		t.Fatalf("SetDeadline did not reach reads: %v", got)
	}
}

// TestPhases follows a managed connection through requests: the deadlines
// armed are the phase timeouts, and steady keep-alive traffic (one Read and
// one Write per request) arms nothing after the first exchange.
func TestPhases(t *testing.T) {
	inner := &countingConn{}
	to := Timeouts{Read: time.Second, Write: 2 * time.Second, Idle: 3 * time.Second}
	start := time.Now()
	c := WrapServer(inner, 10*time.Millisecond, to)
	buf := make([]byte, 1)
	near := func(got time.Time, d time.Duration) bool {
		off := got.Sub(start) - d
		return off >= 0 && off < 500*time.Millisecond
	}

	// A response: the gateway calls StartWrite before the server writes.
	respond := func() {
		c.StartWrite(Now())
		c.Write(buf)
	}

	c.Read(buf) // the first request: read timeout from accept
	if len(inner.reads) != 1 || !near(inner.reads[0], to.Read) {
		t.Fatalf("first read armed %v", inner.reads)
	}
	respond() // its response
	if len(inner.writes) != 1 || !near(inner.writes[0], to.Write) {
		t.Fatalf("first write armed %v", inner.writes)
	}
	c.Read(buf) // waiting for the next request: idle timeout
	if len(inner.reads) != 2 || !near(inner.reads[1], to.Idle) {
		t.Fatalf("idle read armed %v", inner.reads)
	}
	c.Read(buf) // more of that request: read timeout from its first byte
	if len(inner.reads) != 3 || !near(inner.reads[2], to.Read) {
		t.Fatalf("second read of a request armed %v", inner.reads)
	}
	respond()
	reads, writes := len(inner.reads), len(inner.writes)
	c.Read(buf) // idle again: moved by 2 s from the read timeout, armed
	if len(inner.reads) != reads+1 {
		t.Fatal("idle deadline not armed after a read deadline")
	}
	// Steady keep-alive: each request one Read (idle phase) and one Write.
	reads = len(inner.reads)
	for range 1000 {
		respond()
		c.Read(buf)
	}
	if len(inner.reads) != reads || len(inner.writes) != writes {
		t.Fatalf("steady traffic re-armed reads %d, writes %d times", len(inner.reads)-reads, len(inner.writes)-writes)
	}

	// No idle timeout: waiting for a request clears the read deadline.
	inner = &countingConn{}
	c = WrapServer(inner, 10*time.Millisecond, Timeouts{Read: time.Second})
	c.Read(buf)
	respond()
	c.Read(buf)
	if len(inner.reads) != 2 || !inner.reads[1].IsZero() {
		t.Fatalf("without an idle timeout: armed %v", inner.reads)
	}
	if len(inner.writes) != 0 {
		t.Fatalf("without a write timeout: armed %v", inner.writes)
	}
}

func TestSlack(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, MaxSlack},
		{[]time.Duration{0, -time.Second}, MaxSlack},
		{[]time.Duration{200 * time.Millisecond}, 25 * time.Millisecond},
		{[]time.Duration{0, 60 * time.Second, 400 * time.Millisecond, time.Second}, 50 * time.Millisecond},
		{[]time.Duration{8 * time.Second}, time.Second},
		{[]time.Duration{60 * time.Second}, MaxSlack},
	} {
		if got := Slack(tc.in...); got != tc.want {
			t.Errorf("Slack(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// tcpPair returns both ends of a loopback TCP connection, the server end
// accepted through a Listener.
func tcpPair(t testing.TB, slack time.Duration) (server, client net.Conn) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listener{Listener: raw, Slack: slack}
	defer ln.Close()
	client, err = net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestTimeoutsFire checks over real sockets that a deferred deadline still
// ends a blocked Read and Write, within the slack.
func TestTimeoutsFire(t *testing.T) {
	const timeout, slack = 150 * time.Millisecond, 20 * time.Millisecond
	server, client := tcpPair(t, slack)
	if _, ok := server.(*Conn); !ok {
		t.Fatalf("Listener gave %T", server)
	}

	start := time.Now()
	server.SetReadDeadline(start.Add(timeout))
	_, err := server.Read(make([]byte, 1))
	took := time.Since(start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read: %v, want a deadline error", err)
	}
	if took < timeout-slack || took > timeout+time.Second {
		t.Fatalf("Read timed out after %v, want about %v", took, timeout)
	}

	// The deadline was cleared: a Read now waits for data.
	server.SetReadDeadline(time.Time{})
	go func() { time.Sleep(2 * timeout); client.Write([]byte("x")) }()
	if n, err := server.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("Read after clearing: %d, %v", n, err)
	}

	// A writer whose peer never reads blocks once the socket buffers fill,
	// and the write deadline ends it.
	start = time.Now()
	server.SetWriteDeadline(start.Add(timeout))
	chunk := make([]byte, 1<<20)
	for {
		if _, err = server.Write(chunk); err != nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("Write never timed out")
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write: %v, want a deadline error", err)
	}
	if took := time.Since(start); took < timeout-slack {
		t.Fatalf("Write timed out after %v, before %v", took, timeout)
	}
}

// BenchmarkDeadlines is one request's worth of deadline calls on a real
// socket, as fasthttp's server makes them (idle, read and write timeouts),
// with one small non-blocking Write that arms whatever is due. "raw" arms
// each deadline on the socket; "coalesced" goes through Conn. The peer
// drains the socket every 1024 writes, so no Write blocks.
func BenchmarkDeadlines(b *testing.B) {
	for _, mode := range []string{"raw", "coalesced"} {
		b.Run(mode, func(b *testing.B) {
			server, client := tcpPair(b, 500*time.Millisecond)
			if mode == "raw" {
				server = server.(*Conn).Conn
			}
			msg := []byte("x")
			buf := make([]byte, 4096)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				now := time.Now()
				server.SetReadDeadline(now.Add(60 * time.Second))
				server.SetReadDeadline(now.Add(10 * time.Second))
				server.SetWriteDeadline(now.Add(60 * time.Second))
				server.Write(msg)
				if i++; i%1024 == 0 {
					for n := 0; n < 1024; {
						k, _ := client.Read(buf)
						n += k
					}
				}
			}
		})
	}
}

// TestPeer checks the cached peer address and its text against the
// connection's own, over IPv4 and IPv6 loopback.
func TestPeer(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		ln, err := net.Listen(network, map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}[network])
		if err != nil {
			t.Logf("%s: %v (skipped)", network, err)
			continue
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := Listener{Listener: ln, Slack: time.Millisecond, Timeouts: Timeouts{Read: time.Second}}.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}()
		client, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, ok := <-accepted
		if !ok {
			t.Fatal("accept failed")
		}
		want := client.LocalAddr().(*net.TCPAddr).AddrPort().Addr()
		for range 2 { // parsed once, then kept
			if got := server.(*Conn).Peer(); got != want {
				t.Errorf("%s: Peer() = %v, want %v", network, got, want)
			}
			if got := string(server.(*Conn).AppendPeer([]byte("for="))); got != "for="+want.String() {
				t.Errorf("%s: AppendPeer = %q, want %q", network, got, "for="+want.String())
			}
		}
		client.Close()
		server.Close()
		ln.Close()
	}
}

// TestLazyPhaseClock: the read timeout of a request that did not arrive
// whole counts from the Read after its first byte, and StartWrite's
// reading of the clock, not the first Write's, starts the write timeout.
func TestLazyPhaseClock(t *testing.T) {
	inner := &countingConn{}
	to := Timeouts{Read: time.Second, Write: 2 * time.Second, Idle: 3 * time.Second}
	c := WrapServer(inner, time.Millisecond, to)
	buf := make([]byte, 1)
	c.Read(buf)
	c.StartWrite(Now())
	c.Write(buf)
	c.Read(buf) // idle; its byte starts the next request
	time.Sleep(50 * time.Millisecond)
	before := time.Now()
	c.Read(buf) // the request goes on: read timeout from here
	if got := inner.reads[len(inner.reads)-1]; got.Before(before.Add(to.Read)) || got.After(before.Add(to.Read+200*time.Millisecond)) {
		t.Fatalf("read deadline %v, want %v after %v", got, to.Read, before)
	}

	early := time.Now().Add(-500 * time.Millisecond)
	c.StartWrite(FromTime(early))
	c.Write(buf)
	if got := inner.writes[len(inner.writes)-1]; !got.Equal(Time(FromTime(early) + int64(to.Write))) {
		t.Fatalf("write deadline %v, want %v after StartWrite's %v", got, to.Write, early)
	}
	n := len(inner.writes)
	c.Write(buf) // same phase: nothing re-armed
	if len(inner.writes) != n {
		t.Fatalf("second write of a response re-armed: %v", inner.writes[n:])
	}
	// A pipelined response handled while the first is still unwritten:
	// the write timeout counts from its StartWrite.
	later := FromTime(early) + int64(time.Second)
	c.StartWrite(later)
	c.Write(buf)
	if got := inner.writes[len(inner.writes)-1]; !got.Equal(Time(later + int64(to.Write))) {
		t.Fatalf("write deadline %v after a second StartWrite, want %v after it", got, to.Write)
	}

	// A connection without Timeouts ignores StartWrite.
	plain := &countingConn{}
	p := Wrap(plain, time.Millisecond)
	p.StartWrite(Now())
	p.Write(buf)
	if len(plain.writes) != 0 {
		t.Fatalf("unmanaged connection armed %v", plain.writes)
	}
}

// TestInterimWrite: a Write without StartWrite (fasthttp's "100 Continue"
// before a request body, a TLS handshake's messages) does not end the
// request: the next Read goes on under the request's read deadline, where
// after a response (StartWrite, Write) it waits under the idle timeout.
func TestInterimWrite(t *testing.T) {
	inner := &countingConn{}
	to := Timeouts{Read: time.Second, Write: 2 * time.Second, Idle: time.Minute}
	start := time.Now()
	c := WrapServer(inner, 10*time.Millisecond, to)
	buf := make([]byte, 1)
	c.Read(buf)  // the request's head
	c.Write(buf) // 100 Continue
	c.Read(buf)  // its body: still the read deadline from accept
	c.Write(buf) // (a handshake writes more than once)
	c.Read(buf)
	if len(inner.reads) != 1 || inner.reads[0].Sub(start) > to.Read+500*time.Millisecond {
		t.Fatalf("reads after interim writes armed %v, want only the read deadline from accept", inner.reads)
	}
	if len(inner.writes) != 1 {
		t.Fatalf("interim writes armed %v, want one write deadline", inner.writes)
	}
	c.StartWrite(Now())
	c.Write(buf) // the response
	c.Read(buf)  // the idle wait
	if len(inner.reads) != 2 || inner.reads[1].Sub(start) < to.Idle {
		t.Fatalf("after the response armed %v, want the idle deadline", inner.reads)
	}
	// The next request's head arrived whole with that read; 100 Continue;
	// the body's read gets the read timeout from then.
	c.Write(buf)
	before := time.Now()
	c.Read(buf)
	if got := inner.reads[len(inner.reads)-1]; len(inner.reads) != 3 || got.Before(before.Add(to.Read)) || got.After(before.Add(to.Read+500*time.Millisecond)) {
		t.Fatalf("body read after 100 Continue on a kept-alive connection armed %v, want %v after %v", inner.reads, to.Read, before)
	}
}

// TestForeignWriter is what fasthttp's Shutdown does to an idle TLS
// connection: while the serving goroutine is blocked in Read, another
// goroutine sets a write deadline, writes (crypto/tls's close_notify) and
// closes. The write reaches the peer and the Read returns; under -race
// (make race) it also checks that the two goroutines share no state.
func TestForeignWriter(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ln := Listener{Listener: raw, Slack: 10 * time.Millisecond, Timeouts: Timeouts{Read: time.Second, Write: time.Second, Idle: time.Minute}}
	peer, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*Conn)
	buf := make([]byte, 8)
	peer.Write([]byte("GET"))
	c.Read(buf) // a request
	c.StartWrite(Now())
	c.Write([]byte("200")) // its response
	blocked := make(chan error, 1)
	go func() { _, err := c.Read(buf); blocked <- err }() // the idle wait
	time.Sleep(20 * time.Millisecond)
	if err := c.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-blocked; err == nil {
		t.Fatal("the blocked Read returned no error after Close")
	}
	got, _ := io.ReadAll(peer)
	if string(got) != "200bye" {
		t.Fatalf("peer read %q", got)
	}
}

// chunkConn returns its chunks one Read at a time, then blocks forever
// (as a client that sent them and waits would).
type chunkConn struct {
	net.Conn
	chunks []string
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, errWouldWait
	}
	n := copy(p, c.chunks[0])
	c.chunks = c.chunks[1:]
	return n, nil
}

func (c *chunkConn) SetReadDeadline(time.Time) error { return nil }

var errWouldWait = errors.New("the reader would wait for more")

// TestWatchHeads: on a watched connection, a request head ended by a bare
// LF ends the reading at once (ErrBareLFHead) instead of waiting for a CRLF
// CRLF; heads ended by CRLF CRLF, split across reads at any byte, and
// bodies with LF pairs after them, never do. Unwatched connections (TLS
// underneath) are not looked at.
func TestWatchHeads(t *testing.T) {
	read := func(watch bool, chunks ...string) error {
		c := WrapServer(&chunkConn{chunks: chunks}, time.Millisecond, Timeouts{Read: time.Second})
		c.watch, c.headOpen, c.first = watch, watch, watch
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				return err
			}
		}
	}
	for _, chunks := range [][]string{
		{"GET / HTTP/1.1\nHost: a\n\n"},
		{"GET / HTTP/1.1\r\nHost: a\r\n\n"},
		{"GET / HTTP/1.1\r\nHost: a\r\n", "\n"},
		{"GET / HTTP/1.1\r\nHost: a\n", "\n"},
		{"GET / HTTP/1.1\r\nHost: a\r\n", "\n", "more"}, // refused before "more" is read
		{"POST / HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello"},
	} {
		if err := read(true, chunks...); !errors.Is(err, ErrBareLFHead) {
			t.Errorf("%q: %v, want ErrBareLFHead", chunks, err)
		}
		if err := read(false, chunks...); err != errWouldWait {
			t.Errorf("%q unwatched: %v", chunks, err)
		}
	}
	// A first byte no request line starts with: refused at once.
	for _, chunks := range [][]string{
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"}, // a TLS ClientHello
		{"\x00\x00\x00\x01"},
		{" GET / HTTP/1.1\r\n"},
		{"\xffGET"},
	} {
		if err := read(true, chunks...); !errors.Is(err, ErrNotHTTP) {
			t.Errorf("%q: %v, want ErrNotHTTP", chunks, err)
		}
	}
	head := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n"
	good := [][]string{{head}, {head + "ab\n\n"}, {head, "ab\n\n", "cd"}, {"\r\n" + head}, {"\r\n", head}}
	for i := 1; i < len(head); i++ { // the head split at every byte, then a body of LF pairs
		good = append(good, []string{head[:i], head[i:], "\n\n", "\n\n"})
	}
	for _, chunks := range good {
		if err := read(true, chunks...); err != errWouldWait {
			t.Errorf("%q: %v, want to wait for more", chunks, err)
		}
	}
}
