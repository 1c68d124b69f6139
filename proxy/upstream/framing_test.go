package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/proxy/deadline"
	"github.com/edgeguard/edgeguard/proxy/upstream/upstreamtest"
)

// okAnswer answers /good (and anything but the path the test is about).
const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func rawTarget(t *testing.T, addr string, buffered bool, read time.Duration) *Target {
	s := Settings{ConnectTimeout: time.Second, ReadTimeout: read, WriteTimeout: 2 * time.Second, MaxConns: 4,
		KeepAlive: time.Minute, BufferResponses: buffered, MaxResponseSize: 1 << 20}
	return NewRegistry().NewService("raw", []string{addr}, s).Targets[0]
}

// forward sends method path through tg and writes the response as the
// gateway's server does (Response.Write, which also closes a streamed
// body and so releases the connection). It returns what the client would
// get, the error of Do, and the error of the write.
func forward(tg *Target, method, path string) (out string, doErr, writeErr error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost("b")
	req.UseHostHeader = true
	if err := tg.Do(req, resp, nil, deadline.Now()); err != nil {
		return "", err, nil
	}
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	writeErr = resp.Write(bw)
	bw.Flush()
	return b.String(), nil, writeErr
}

// goodAfter sends GET /good through tg and fails unless it gets "ok".
func goodAfter(t *testing.T, tg *Target, what string) {
	t.Helper()
	out, err, werr := forward(tg, "GET", "/good")
	if err != nil || werr != nil || !strings.HasSuffix(out, "\r\n\r\nok") {
		t.Fatalf("%s: the next request got %q (%v, %v), want \"ok\"", what, out, err, werr)
	}
}

// goodAfterOnNewConn is goodAfter, and the good request must have gone on
// another connection than the bad one: the bad one was not used again.
func goodAfterOnNewConn(t *testing.T, u *upstreamtest.KeepAlive, tg *Target, what string) {
	t.Helper()
	goodAfter(t, tg, what)
	if u.SameConn(t, "/bad", "/good") {
		t.Fatalf("%s: the connection of the bad response was used again", what)
	}
}

func modes(t *testing.T, f func(t *testing.T, buffered bool)) {
	for _, buffered := range []bool{false, true} {
		t.Run(fmt.Sprintf("buffered=%v", buffered), func(t *testing.T) { f(t, buffered) })
	}
}

// TestLeftoverBytesNotReused: bytes that arrive with a response, after its
// end, were not asked for; they are not forwarded and the connection is
// not kept (before, the reader dropped them with the exchange and the
// connection went back to the pool, at an unknown place in what the
// upstream sends). A response without them keeps its connection.
func TestLeftoverBytesNotReused(t *testing.T) {
	const leak = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nLEAKED"
	cases := []struct {
		name, method, resp, want string
		reuse                    bool
	}{
		{"after a length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + leak, "\r\n\r\nhello", false},
		{"after chunks", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + leak, "hello", false},
		{"after a head answering HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 44\r\n\r\n" + leak, "Content-Length: 44\r\n\r\n", false},
		{"after a 304", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 44\r\n\r\n" + leak, "\r\n\r\n", false},
		{"none", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "hello", true},
		{"none after HEAD with a length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 44\r\n\r\n", "Content-Length: 44\r\n\r\n", true},
		{"none after a 304 with a length", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 44\r\n\r\n", "\r\n\r\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			modes(t, func(t *testing.T, buffered bool) {
				u := upstreamtest.StartKeepAlive(t, func(w net.Conn, _, path string) bool {
					if path == "/bad" {
						io.WriteString(w, c.resp)
					} else {
						io.WriteString(w, okAnswer)
					}
					return true
				})
				tg := rawTarget(t, u.Addr, buffered, 2*time.Second)
				out, err, werr := forward(tg, c.method, "/bad")
				if err != nil || werr != nil || !strings.Contains(out, c.want) || strings.Contains(out, "LEAKED") {
					t.Fatalf("got %q (%v, %v), want %q in it", out, err, werr, c.want)
				}
				goodAfter(t, tg, c.name)
				if same := u.SameConn(t, "/bad", "/good"); same != c.reuse {
					t.Fatalf("connection kept: %v, want %v", same, c.reuse)
				}
			})
		})
	}
}

// TestIdleConnectionChecked: a pooled connection idle for longer than
// idleCheck is checked before use. One on which the upstream has written
// since its last response (an answer to nothing) is closed, not read as
// the next answer; one the upstream has closed is not written to, so a
// POST, which is never sent twice, does not fail on it. A connection
// reused sooner is not checked (no system call).
func TestIdleConnectionChecked(t *testing.T) {
	modes(t, func(t *testing.T, buffered bool) {
		u := upstreamtest.StartKeepAlive(t, func(w net.Conn, _, path string) bool {
			io.WriteString(w, okAnswer)
			switch path {
			case "/bad":
				time.Sleep(20 * time.Millisecond)
				io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nLEAKED")
			case "/close":
				return false
			}
			return true
		})
		tg := rawTarget(t, u.Addr, buffered, 2*time.Second)
		if out, err, _ := forward(tg, "GET", "/bad"); err != nil || !strings.HasSuffix(out, "ok") {
			t.Fatalf("/bad: %q %v", out, err)
		}
		time.Sleep(60 * time.Millisecond)
		goodAfterOnNewConn(t, u, tg, "after unsolicited bytes on an idle connection")
		for i := range 5 {
			if out, err, _ := forward(tg, "GET", "/close"); err != nil || !strings.HasSuffix(out, "ok") {
				t.Fatalf("/close: %q %v", out, err)
			}
			time.Sleep(20 * time.Millisecond)
			if out, err, _ := forward(tg, "POST", "/post"); err != nil || !strings.HasSuffix(out, "ok") {
				t.Fatalf("POST %d after the upstream closed the idle connection: %q %v", i, out, err)
			}
		}
	})

	// The threshold: with bytes waiting, a connection back in the pool
	// for less than idleCheck is taken as it is, one idle for longer not.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.WriteString(c, "x")
			time.Sleep(time.Second)
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := deadline.Wrap(c, time.Millisecond)
	time.Sleep(20 * time.Millisecond) // "x" has arrived
	now := deadline.Now()
	if !idleUsable(conn, deadline.Time(now-idleCheck/2), now) {
		t.Fatalf("a connection idle for less than idleCheck was checked")
	}
	if idleUsable(conn, deadline.Time(now-2*idleCheck), now) {
		t.Fatalf("a connection idle for longer than idleCheck with a byte waiting was taken")
	}
	if !idleUsable(conn, time.Time{}, now) {
		t.Fatalf("a new connection was checked")
	}
}

// TestBrokenChunkNotReused: a streamed chunked body whose chunk data is
// not followed by CRLF fails the write of the response (the client gets
// it cut short) and its connection is not kept. fasthttp's stream returns
// the chunk's data with the error; its chunked writer drops an error that
// comes with data, and the next read found "0\r\n\r\n" further on and
// ended the body: the response was complete, the connection kept.
func TestBrokenChunkNotReused(t *testing.T) {
	u := upstreamtest.StartKeepAlive(t, func(w net.Conn, _, path string) bool {
		if path == "/bad" {
			io.WriteString(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX0\r\n\r\n")
		} else {
			io.WriteString(w, okAnswer)
		}
		return true
	})
	tg := rawTarget(t, u.Addr, false, 2*time.Second)
	out, err, werr := forward(tg, "GET", "/bad")
	if err != nil {
		t.Fatal(err)
	}
	if werr == nil || strings.HasSuffix(out, "0\r\n\r\n") {
		t.Fatalf("the response was written whole (%q, write error %v): a broken chunk must cut it short", out, werr)
	}
	goodAfterOnNewConn(t, u, tg, "after a broken chunk")
}

// TestResponseVersion: the client gets the gateway's own HTTP-version
// (RFC 9110 §6.2), whatever the upstream's; fasthttp wrote the upstream's,
// "HTTP/1.0" with a chunked body where a stream has no length. A version
// other than HTTP/1.0 and HTTP/1.1 is refused (502), on both transports,
// and the request is not sent again. (A status below 100 is refused too.)
func TestResponseVersion(t *testing.T) {
	modes(t, func(t *testing.T, buffered bool) {
		u := upstreamtest.StartKeepAlive(t, func(w net.Conn, _, path string) bool {
			switch path {
			case "/1.0":
				io.WriteString(w, "HTTP/1.0 200 OK\r\n\r\nhello")
				return false
			case "/1.0-keep-alive":
				io.WriteString(w, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello")
			case "/2.0":
				io.WriteString(w, "HTTP/2.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")
			case "/1.2":
				io.WriteString(w, "HTTP/1.2 200 OK\r\nContent-Length: 5\r\n\r\nhello")
			case "/099":
				io.WriteString(w, "HTTP/1.1 099 Odd\r\nContent-Length: 5\r\n\r\nhello")
			default:
				io.WriteString(w, okAnswer)
			}
			return true
		})
		tg := rawTarget(t, u.Addr, buffered, 2*time.Second)
		for _, path := range []string{"/1.0", "/1.0-keep-alive"} {
			out, err, werr := forward(tg, "GET", path)
			if err != nil || werr != nil || !strings.HasPrefix(out, "HTTP/1.1 200 OK\r\n") || !strings.Contains(out, "hello") {
				t.Fatalf("%s: got %q (%v, %v), want HTTP/1.1 200 with hello", path, out, err, werr)
			}
		}
		for _, path := range []string{"/2.0", "/1.2"} {
			if out, err, _ := forward(tg, "GET", path); !errors.Is(err, errVersion) {
				t.Fatalf("%s: got %q, %v, want errVersion", path, out, err)
			}
		}
		if n := u.Count("/2.0"); n != 1 {
			t.Fatalf("a GET answered with a refused response was sent %d times: it came whole, once is enough", n)
		}
		if out, err, _ := forward(tg, "GET", "/099"); !errors.Is(err, errStatus) {
			t.Fatalf("/099: got %q, %v, want errStatus", out, err)
		}
		goodAfter(t, tg, "after refused versions")

		// fasthttp's transport (a request body that is a stream).
		for path, wantErr := range map[string]error{"/1.0-keep-alive": nil, "/2.0": errVersion} {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.Header.SetMethod("POST")
			req.SetRequestURI(path)
			req.Header.SetHost("b")
			req.UseHostHeader = true
			req.SetBodyStream(strings.NewReader("body"), -1)
			err := tg.Do(req, resp, nil, deadline.Now())
			if !errors.Is(err, wantErr) {
				t.Fatalf("streamed upload %s: %v, want %v", path, err, wantErr)
			}
			if err == nil {
				if line := strings.SplitN(resp.Header.String(), "\r\n", 2)[0]; line != "HTTP/1.1 200 OK" {
					t.Fatalf("streamed upload %s: status line %q", path, line)
				}
				readBody(resp)
			}
			resp.Reset()
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
	})
}

// TestTransferEncodingHTTP10: Transfer-Encoding in an HTTP/1.0 response
// means faulty framing (RFC 9112 §6.1): refused with a 502 and the
// connection closed. fasthttp ignores the field there, and the chunk
// framing was forwarded as content.
func TestTransferEncodingHTTP10(t *testing.T) {
	modes(t, func(t *testing.T, buffered bool) {
		u := upstreamtest.StartKeepAlive(t, func(w net.Conn, _, path string) bool {
			if path == "/bad" {
				io.WriteString(w, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
			} else {
				io.WriteString(w, okAnswer)
			}
			return true
		})
		tg := rawTarget(t, u.Addr, buffered, 2*time.Second)
		if out, err, _ := forward(tg, "GET", "/bad"); !errors.Is(err, errTE10) {
			t.Fatalf("got %q, %v, want errTE10", out, err)
		}
		goodAfterOnNewConn(t, u, tg, "after TE in HTTP/1.0")
	})
}

// TestUnsolicitedSwitch: a 101 to a request that asked for no upgrade is
// refused (RFC 9110 §15.2.2) and its connection closed; before, the 101
// was forwarded and the connection, now speaking something else, went back
// to the pool. A 101 to a request with Upgrade (the proxy sends none
// today: it removes the client's as hop-by-hop) is passed on, and its
// connection is never kept either.
func TestUnsolicitedSwitch(t *testing.T) {
	modes(t, func(t *testing.T, buffered bool) {
		u := upstreamtest.StartKeepAlive(t, func(w net.Conn, _, path string) bool {
			switch path {
			case "/bad", "/upgrade":
				io.WriteString(w, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
			default:
				io.WriteString(w, okAnswer)
			}
			return true
		})
		tg := rawTarget(t, u.Addr, buffered, 2*time.Second)
		if out, err, _ := forward(tg, "GET", "/bad"); !errors.Is(err, errSwitch) {
			t.Fatalf("got %q, %v, want errSwitch", out, err)
		}
		goodAfterOnNewConn(t, u, tg, "after an unsolicited 101")

		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("/upgrade")
		req.Header.SetHost("b")
		req.UseHostHeader = true
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		if err := tg.Do(req, resp, nil, deadline.Now()); err != nil || resp.StatusCode() != 101 {
			t.Fatalf("a 101 to a request with Upgrade: %d, %v", resp.StatusCode(), err)
		}
		goodAfter(t, tg, "after a 101")
		if u.SameConn(t, "/upgrade", "/good") {
			t.Fatalf("the connection of a 101 was used again")
		}
	})
}

// TestSuspectFramingNotReused: a response forwarded by the one legal
// reading of a framing that leaves the rest of the connection unknown
// does not keep its connection (RFC 9112 §6.3 item 3): Content-Length with
// Transfer-Encoding (fasthttp drops the Content-Length: it is looked for
// in the head as received), and content announced where there is none,
// Transfer-Encoding on a 204, a 304 or a response to HEAD, Content-Length
// on a 204. The bytes sent after such a response ("after", 30 ms later,
// on a connection reused at once) would be read as the next answer.
func TestSuspectFramingNotReused(t *testing.T) {
	const leak = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nLEAKED"
	chunkedLeak := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(leak), leak)
	cases := []struct {
		name, method, resp, after, want string
	}{
		{"CL+TE", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", leak, "hello"},
		{"TE+CL", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ncontent-length : 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n", leak, "hello"},
		{"204 chunked", "GET", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", chunkedLeak, "204 No Content"},
		{"204 with a length", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 44\r\n\r\n", leak, "204 No Content"},
		{"304 chunked", "GET", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", chunkedLeak, "304 Not Modified"},
		{"HEAD chunked", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunkedLeak, "200 OK"},
	}
	defer func(d int64) { idleCheck = d }(idleCheck)
	idleCheck = int64(time.Hour) // what is tested here needs no look at the socket
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			modes(t, func(t *testing.T, buffered bool) {
				u := upstreamtest.StartKeepAlive(t, func(w net.Conn, _, path string) bool {
					if path == "/bad" {
						io.WriteString(w, c.resp)
						time.Sleep(30 * time.Millisecond)
						io.WriteString(w, c.after)
					} else {
						io.WriteString(w, okAnswer)
					}
					return true
				})
				tg := rawTarget(t, u.Addr, buffered, 2*time.Second)
				out, err, werr := forward(tg, c.method, "/bad")
				if err != nil || werr != nil || !strings.Contains(out, c.want) {
					t.Fatalf("got %q (%v, %v), want %q in it", out, err, werr, c.want)
				}
				time.Sleep(60 * time.Millisecond) // after has arrived
				goodAfterOnNewConn(t, u, tg, c.name)
			})
		})
	}
}

// TestBareLFHead: a response head ended by bare LFs, which fasthttp's
// reader never takes for complete, is refused at once with a 502 when
// its status line ends in a bare LF; otherwise at the read timeout, still
// as a malformed response (502), not a timeout (504, and a failure
// towards the target's ejection).
func TestBareLFHead(t *testing.T) {
	modes(t, func(t *testing.T, buffered bool) {
		u := upstreamtest.StartKeepAlive(t, func(w net.Conn, _, path string) bool {
			switch path {
			case "/lf":
				io.WriteString(w, "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello")
			case "/crlf-lf":
				io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\n\nhello")
			default:
				io.WriteString(w, okAnswer)
			}
			return true
		})
		tg := rawTarget(t, u.Addr, buffered, 400*time.Millisecond)
		start := time.Now()
		if out, err, _ := forward(tg, "GET", "/lf"); !errors.Is(err, errBareLF) {
			t.Fatalf("/lf: got %q, %v, want errBareLF", out, err)
		}
		if took := time.Since(start); took > 200*time.Millisecond {
			t.Fatalf("/lf refused after %v: it waited for the read timeout", took)
		}
		out, err, _ := forward(tg, "GET", "/crlf-lf")
		if !errors.Is(err, errBareLF) {
			t.Fatalf("/crlf-lf: got %q, %v, want errBareLF", out, err)
		}
		if st, _ := Classify(err); st != fasthttp.StatusBadGateway {
			t.Fatalf("/crlf-lf: classified %d", st)
		}
		goodAfter(t, tg, "after bare LF heads")
	})
}

// TestHeadBytes: the head as received, which the Content-Length and
// Transfer-Encoding checks look at, is known for a first head (every
// exchange reads with a reset reader) and for one after an interim
// response that was read apart from it; after one in the same read the
// buffer may have slid, and readResponse assumes the worst (framed false).
func TestHeadBytes(t *testing.T) {
	const final = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
	body := "5\r\nhello\r\n0\r\n\r\n"
	hc := &fasthttp.HostClient{}
	for _, c := range []struct {
		name   string
		r      io.Reader
		framed bool
	}{
		{"first head", strings.NewReader(final + body), true},
		{"first head, byte by byte", &oneByte{s: final + body}, true},
		{"after an interim one in the same read", strings.NewReader("HTTP/1.1 100 Continue\r\n\r\n" + final + body), false},
		{"after an interim one read apart", &oneByte{s: "HTTP/1.1 100 Continue\r\n\r\n" + final + body}, true},
		{"CL+TE", strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n" + final[len("HTTP/1.1 200 OK\r\n"):] + body), false},
	} {
		br := bufio.NewReaderSize(c.r, 4096)
		var req fasthttp.Request
		var resp fasthttp.Response
		_, framed, err := readResponse(hc, br, &req, &resp)
		if err != nil || framed != c.framed || string(resp.Body()) != "hello" {
			t.Errorf("%s: framed %v, body %q, %v; want framed %v", c.name, framed, resp.Body(), err, c.framed)
		}
	}
	br := bufio.NewReaderSize(strings.NewReader(final+body), 4096)
	var h fasthttp.ResponseHeader
	start, err := readHead(&h, br)
	if err != nil {
		t.Fatal(err)
	}
	if got := headBytes(start, br); string(got) != final {
		t.Fatalf("headBytes: %q, want %q", got, final)
	}
}

// oneByte reads one byte at a time.
type oneByte struct{ s string }

func (r *oneByte) Read(p []byte) (int, error) {
	if len(r.s) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.s[0]
	r.s = r.s[1:]
	return 1, nil
}
