package upstream

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/proxy/deadline"
)

// BenchmarkDo compares one proxied exchange over loopback (a fasthttp
// backend answering 100 bytes) through Target.Do with the proxy's five
// forwarded headers as a block, and through HostClient.Do with the same
// headers set through fasthttp's header API, as the proxy did before.
// Both share the kernel's loopback cost, which dominates; callgrind
// (README.md) isolates the user-space difference.
func BenchmarkDo(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 100)
	srv := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) { rc.SetBody(body) }}
	go srv.Serve(ln)
	defer srv.Shutdown()
	extra := []byte("X-Forwarded-For: 192.0.2.1\r\nX-Real-Ip: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: api.example.com\r\nX-Request-Id: 0123456789abcdef-0000000000000001\r\n")
	for _, mode := range []string{"Target.Do", "HostClient.Do"} {
		for _, buffered := range []bool{true, false} {
			name := mode + "/streaming"
			if buffered {
				name = mode + "/buffered"
			}
			b.Run(name, func(b *testing.B) {
				s := Settings{ConnectTimeout: time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxConns: 4,
					KeepAlive: time.Minute, BufferResponses: buffered, MaxResponseSize: 1 << 20}
				tg := NewRegistry().NewService("b", []string{ln.Addr().String()}, s).Targets[0]
				var req fasthttp.Request
				var resp fasthttp.Response
				b.ReportAllocs()
				for b.Loop() {
					req.SetRequestURI("/v1/items?page=2")
					req.Header.SetHost(tg.Addr)
					req.UseHostHeader = true
					req.Header.Set("User-Agent", "bench")
					var err error
					if mode == "Target.Do" {
						err = tg.Do(&req, &resp, extra, deadline.Now())
					} else {
						setHeaderLines(&req.Header, extra)
						err = tg.Client.Do(&req, &resp)
					}
					if err != nil {
						b.Fatal(err)
					}
					if bs := resp.BodyStream(); bs != nil {
						io.Copy(io.Discard, bs)
						resp.ResetBody() // closes the stream, as the server does
					} else if len(resp.Body()) != len(body) {
						b.Fatalf("body of %d bytes", len(resp.Body()))
					}
					req.Reset()
				}
			})
		}
	}
}

// BenchmarkIdleCheck is what roundTrip's look at a pooled connection
// costs (idleUsable): nothing but a clock comparison for one reused within
// idleCheck ("fresh"), a non-blocking MSG_PEEK on its socket for one idle
// for longer ("idle").
func BenchmarkIdleCheck(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	conn := deadline.Wrap(c, time.Millisecond)
	for _, idle := range []bool{false, true} {
		name := "fresh"
		if idle {
			name = "idle"
		}
		b.Run(name, func(b *testing.B) {
			now := deadline.Now()
			last := deadline.Time(now - idleCheck/2)
			if idle {
				last = deadline.Time(now - 2*idleCheck)
			}
			b.ReportAllocs()
			for b.Loop() {
				if !idleUsable(conn, last, now) {
					b.Fatal("not usable")
				}
			}
		})
	}
}
