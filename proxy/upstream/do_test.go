package upstream

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/proxy/deadline"
	"github.com/edgeguard/edgeguard/proxy/upstream/upstreamtest"
)

// oneShotBackend answers one request per connection and then closes it
// without saying so (no "Connection: close"), as an upstream whose
// keep-alive timeout is shorter than the gateway's does. It counts the
// requests it reads by method.
func oneShotBackend(t *testing.T) (addr string, gets, posts *atomic.Int32) {
	gets, posts = new(atomic.Int32), new(atomic.Int32)
	addr, _ = upstreamtest.OneShot(t, func(line string) string {
		if strings.HasPrefix(line, "POST") {
			posts.Add(1)
		} else {
			gets.Add(1)
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	})
	return addr, gets, posts
}

// TestDoRetriesIdempotent: Target.Do, like HostClient.Do, sends an
// idempotent request again on a fresh connection when the pooled one turns
// out closed, and never sends a POST twice.
func TestDoRetriesIdempotent(t *testing.T) {
	for _, buffered := range []bool{true, false} {
		t.Run(fmt.Sprintf("buffered=%v", buffered), func(t *testing.T) { testDoRetries(t, buffered) })
	}
}

func testDoRetries(t *testing.T, buffered bool) {
	// The pooled connections are used as they are, closed or not: a
	// connection idle for longer than idleCheck is looked at first, and one
	// the upstream closed is not used (TestIdleConnectionChecked).
	defer func(d int64) { idleCheck = d }(idleCheck)
	idleCheck = int64(time.Hour)
	addr, gets, posts := oneShotBackend(t)
	s := Settings{ConnectTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxConns: 4,
		KeepAlive: time.Minute, Retries: 1, BufferResponses: buffered, MaxResponseSize: 1 << 20}
	tg := NewRegistry().NewService("one", []string{addr}, s).Targets[0]
	send := func(method string) error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(method)
		req.SetRequestURI("/x")
		req.Header.SetHost(addr)
		req.UseHostHeader = true
		if method == "POST" {
			req.SetBodyString("payload")
		}
		err := tg.Do(req, resp, nil, deadline.Now())
		if err == nil {
			if body := readBody(resp); body != "ok" {
				t.Fatalf("%s: body %q", method, body)
			}
		}
		return err
	}
	for i := 0; i < 20; i++ {
		if err := send("GET"); err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		time.Sleep(5 * time.Millisecond) // the backend has closed the pooled connection by now
	}
	if n := gets.Load(); n < 20 || n > 40 {
		t.Fatalf("backend read %d GETs for 20 sent", n)
	}
	failed := 0
	for i := 0; i < 20; i++ {
		if send("POST") != nil {
			failed++
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := posts.Load(); n > 20 {
		t.Fatalf("backend read %d POSTs for 20 sent: a POST was retried", n)
	}
	if failed == 0 {
		t.Fatalf("every POST on a closed pooled connection succeeded: the test did not exercise the stale connection")
	}
}

// TestDoRequestHead: the extra header lines reach the upstream after the
// request's own headers, once, with the request line, Host and body framing
// as set, on both transports (responses read whole: Target.Do writes the
// head itself; streamed: fasthttp's transport, extra set as headers).
func TestDoRequestHead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{DisableHeaderNamesNormalizing: true, Handler: func(rc *fasthttp.RequestCtx) {
		fmt.Fprintf(rc, "%s %s host=%s len=%d body=%s\n", rc.Method(), rc.RequestURI(), rc.Host(), rc.Request.Header.ContentLength(), rc.PostBody())
		for k, v := range rc.Request.Header.All() {
			fmt.Fprintf(rc, "%s=%s\n", k, v)
		}
	}}
	go srv.Serve(ln)
	defer srv.Shutdown()
	for _, buffered := range []bool{true, false} {
		s := Settings{ConnectTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxConns: 4,
			KeepAlive: time.Minute, BufferResponses: buffered, MaxResponseSize: 1 << 20}
		tg := NewRegistry().NewService("h", []string{ln.Addr().String()}, s).Targets[0]
		// PATCH sends a body larger than what is copied after the head.
		bigBody := strings.Repeat("0123456789abcdef", inlineBody/16+64)
		for _, method := range []string{"GET", "POST", "DELETE", "PATCH"} {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.Header.SetMethod(method)
			req.SetRequestURI("/p/a%2Bb?q=1")
			req.Header.SetHost("backend.internal")
			req.UseHostHeader = true
			req.Header.Set("X-Own", "1")
			switch method {
			case "POST":
				req.SetBodyString("hello")
			case "PATCH":
				req.SetBodyString(bigBody)
			}
			if err := tg.Do(req, resp, []byte("X-Forwarded-For: 192.0.2.1\r\nX-Request-Id: abc\r\n"), 0); err != nil {
				t.Fatalf("buffered=%v %s: %v", buffered, method, err)
			}
			got := readBody(resp)
			wantLine := method + " /p/a%2Bb?q=1 host=backend.internal len=0 body=\n"
			switch method {
			case "POST":
				wantLine = "POST /p/a%2Bb?q=1 host=backend.internal len=5 body=hello\n"
			case "GET":
				wantLine = "GET /p/a%2Bb?q=1 host=backend.internal len=-2 body=\n"
			case "PATCH":
				wantLine = fmt.Sprintf("PATCH /p/a%%2Bb?q=1 host=backend.internal len=%d body=%s\n", len(bigBody), bigBody)
			}
			if !strings.HasPrefix(got, wantLine) {
				t.Errorf("buffered=%v %s: request line %.200q, want %.200q", buffered, method, strings.SplitAfter(got, "\n")[0], wantLine)
			}
			for _, h := range []string{"X-Own=1\n", "X-Forwarded-For=192.0.2.1\n", "X-Request-Id=abc\n"} {
				if strings.Count(got, h) != 1 {
					t.Errorf("buffered=%v %s: want %q once in:\n%s", buffered, method, h, got)
				}
			}
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
	}
}

// readBody reads resp's body, streamed or not, and closes a stream (which
// hands its connection back) as the server does once it has written it.
func readBody(resp *fasthttp.Response) string {
	if bs := resp.BodyStream(); bs != nil {
		b, _ := io.ReadAll(bs)
		resp.ResetBody()
		return string(b)
	}
	return string(resp.Body())
}

// TestStreamedResponseReusesConnection: a streamed response of known length
// hands its connection back to the pool once read to its length and
// closed, as the server does (it reads exactly Content-Length bytes); a
// stream closed early, or with a write error, closes its connection.
func TestStreamedResponseReusesConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	body := strings.Repeat("x", 1<<20)
	srv := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
		switch string(rc.Path()) {
		case "/chunked":
			rc.SetBodyStreamWriter(func(w *bufio.Writer) { w.WriteString(body) })
		case "/small":
			rc.SetBodyString("small")
		default:
			rc.SetBodyString(body)
		}
	}, ConnState: func(_ net.Conn, s fasthttp.ConnState) {
		if s == fasthttp.StateNew {
			conns.Add(1)
		}
	}}
	go srv.Serve(ln)
	defer srv.Shutdown()
	s := Settings{ConnectTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxConns: 4, KeepAlive: time.Minute}
	tg := NewRegistry().NewService("s", []string{ln.Addr().String()}, s).Targets[0]
	get := func(path string, read func(resp *fasthttp.Response) error) {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(path)
		req.Header.SetHost("b")
		req.UseHostHeader = true
		if err := tg.Do(req, resp, nil, deadline.Now()); err != nil {
			t.Fatal(err)
		}
		if err := read(resp); err != nil {
			t.Fatal(err)
		}
	}
	exact := func(resp *fasthttp.Response) error { // as the server writes a known length
		bs := resp.BodyStream()
		if bs == nil {
			return fmt.Errorf("1 MiB response not streamed")
		}
		n, err := io.Copy(io.Discard, io.LimitReader(bs, int64(resp.Header.ContentLength())))
		if err != nil || n != int64(len(body)) {
			return fmt.Errorf("read %d: %v", n, err)
		}
		resp.ResetBody()
		return nil
	}
	all := func(resp *fasthttp.Response) error { // chunked: to the end
		if got := readBody(resp); got != body {
			return fmt.Errorf("chunked body of %d bytes", len(got))
		}
		return nil
	}
	for range 5 {
		get("/", exact)
		get("/chunked", all)
		get("/small", func(resp *fasthttp.Response) error {
			if resp.BodyStream() != nil || string(resp.Body()) != "small" {
				return fmt.Errorf("small response not read whole: %q", resp.Body())
			}
			return nil
		})
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("15 sequential exchanges used %d connections, want 1", n)
	}
	get("/", func(resp *fasthttp.Response) error { // abandoned half way
		io.CopyN(io.Discard, resp.BodyStream(), 1000)
		resp.ResetBody()
		return nil
	})
	get("/", exact)
	if n := conns.Load(); n != 2 {
		t.Fatalf("after an abandoned stream: %d connections, want 2", n)
	}
}

// TestCloseDelimitedResponse: a body that ends when the upstream closes
// (no length, not chunked) streams to its end, and its connection is not
// handed back to the pool: the next exchange opens a new one and succeeds.
func TestCloseDelimitedResponse(t *testing.T) {
	body := strings.Repeat("y", 40<<10)
	addr, accepted := upstreamtest.OneShot(t, func(string) string {
		return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body
	})
	for _, buffered := range []bool{false, true} {
		s := Settings{ConnectTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxConns: 4,
			KeepAlive: time.Minute, BufferResponses: buffered, MaxResponseSize: 1 << 20}
		tg := NewRegistry().NewService("c", []string{addr}, s).Targets[0]
		for i := range 3 {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI("/")
			req.Header.SetHost("b")
			req.UseHostHeader = true
			if err := tg.Do(req, resp, nil, deadline.Now()); err != nil {
				t.Fatalf("buffered=%v exchange %d: %v", buffered, i, err)
			}
			if got := readBody(resp); got != body {
				t.Fatalf("buffered=%v exchange %d: %d bytes", buffered, i, len(got))
			}
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
	}
	if n := accepted.Load(); n != 6 {
		t.Fatalf("6 close-delimited exchanges used %d connections", n)
	}
}

// TestReadTimeoutAfterLongWrite: the read timeout counts from the end of
// the request's write, not from when Do was called. The upstream reads
// nothing for longer than the read timeout, so writing a body larger than
// the socket buffers waits that long; it then reads it all and answers at
// once.
func TestReadTimeoutAfterLongWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 32 << 20
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(64 << 10)
		time.Sleep(1500 * time.Millisecond)
		br := bufio.NewReader(c)
		for { // the head
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		if _, err := io.CopyN(io.Discard, br, size); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}()
	addr := ln.Addr().String()
	s := Settings{ConnectTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: 10 * time.Second, MaxConns: 1,
		KeepAlive: time.Minute, BufferResponses: true, MaxResponseSize: 1 << 20}
	tg := NewRegistry().NewService("slow-reader", []string{addr}, s).Targets[0]
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod("POST")
	req.SetRequestURI("/upload")
	req.Header.SetHost(addr)
	req.UseHostHeader = true
	req.SetBody(make([]byte, size))
	start := time.Now()
	if err := tg.Do(req, resp, nil, deadline.FromTime(start)); err != nil {
		t.Fatalf("Do after %v: %v (the read deadline must count from the end of the write)", time.Since(start).Round(time.Millisecond), err)
	}
	if took := time.Since(start); took < s.ReadTimeout {
		t.Logf("the write did not wait (%v): socket buffers larger than the body; nothing tested", took)
	}
	if got := readBody(resp); got != "ok" {
		t.Fatalf("body %q", got)
	}
}
