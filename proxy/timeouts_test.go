package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// serverTimeoutsConfig has short server timeouts so that slow clients are
// cut off quickly; connection deadlines go through package deadline.
const serverTimeoutsConfig = `
server: {read_timeout: 300ms, idle_timeout: 500ms, write_timeout: 400ms}
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`

// timeoutsGateway starts a gateway with serverTimeoutsConfig and opens one
// raw connection to it (closed at the end of the test).
func timeoutsGateway(t *testing.T) (*gw, net.Conn, *bufio.Reader) {
	t.Helper()
	b := startBackend(t, "api")
	g := startGateway(t, serverTimeoutsConfig, b)
	conn, err := net.Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return g, conn, bufio.NewReader(conn)
}

// closedAfter reads from conn until the server closes it and returns how
// long that took from start, or limit when the server never closed it.
func closedAfter(conn net.Conn, start time.Time, limit time.Duration) time.Duration {
	conn.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return limit
	}
	return time.Since(start)
}

func TestSlowLorisIsCutOff(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, serverTimeoutsConfig, b)
	addr := g.Addr().String()

	const n = 20
	var wg sync.WaitGroup
	took := make([]time.Duration, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			start := time.Now()
			// Headers one byte every 20 ms, never finished.
			go func() {
				conn.Write([]byte("GET /x HTTP/1.1\r\nHost: a\r\n"))
				for {
					time.Sleep(20 * time.Millisecond)
					if _, err := conn.Write([]byte("X")); err != nil {
						return
					}
				}
			}()
			took[i] = closedAfter(conn, start, 5*time.Second)
		}()
	}
	// The gateway keeps serving others meanwhile.
	time.Sleep(100 * time.Millisecond)
	if r := do(t, "GET", g.url+"/ok", nil, nil); r.status != 200 {
		t.Fatalf("request during the attack: %d", r.status)
	}
	wg.Wait()
	for i, d := range took {
		// read_timeout 300ms, coalesced within an eighth of it.
		if d < 250*time.Millisecond || d > 1500*time.Millisecond {
			t.Errorf("slow client %d cut off after %v, want about 300ms", i, d)
		}
	}
}

func TestIdleKeepAliveIsClosed(t *testing.T) {
	_, conn, br := timeoutsGateway(t)
	conn.Write([]byte("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"))
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("first request: %v %v", res, err)
	}
	io.Copy(io.Discard, res.Body)
	start := time.Now()
	conn.SetReadDeadline(start.Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("idle connection closed after %v, want about 500ms", d)
	}
}

// TestKeepAliveAcrossTimeouts sends requests on one connection with gaps
// that add up to many read and write timeouts: coalesced deadlines must
// never leave a stale one armed.
func TestKeepAliveAcrossTimeouts(t *testing.T) {
	_, conn, br := timeoutsGateway(t)
	gaps := []time.Duration{0, 0, 10, 100, 250, 0, 350, 5, 400, 50, 200, 0, 420, 1, 300}
	for i, gap := range gaps {
		time.Sleep(gap * time.Millisecond)
		if _, err := conn.Write([]byte("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")); err != nil {
			t.Fatalf("request %d after %dms: %v", i, gap, err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d after %dms: %v", i, gap, err)
		}
		io.Copy(io.Discard, res.Body)
		if res.StatusCode != 200 || res.Close {
			t.Fatalf("request %d: status %d, close %v", i, res.StatusCode, res.Close)
		}
	}
}

func TestSlowReaderIsCutOff(t *testing.T) {
	g, conn, _ := timeoutsGateway(t)
	const size = 256 << 20
	conn.Write([]byte("GET /big?n=268435456 HTTP/1.1\r\nHost: a\r\n\r\n"))
	time.Sleep(1500 * time.Millisecond) // read nothing
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the gateway kept writing to a client that does not read")
	}
	if got >= size {
		t.Fatalf("got the whole %d bytes despite write_timeout", got)
	}
	if r := do(t, "GET", g.url+"/ok", nil, nil); r.status != 200 {
		t.Fatalf("gateway after the slow reader: %d", r.status)
	}
}

// TestContinueAndPipeliningWithTimeouts checks the two exchanges where a
// connection's reads and writes do not simply alternate once per request:
// "Expect: 100-continue" (the gateway writes before it reads the body) and
// two pipelined requests sent in one write.
func TestContinueAndPipeliningWithTimeouts(t *testing.T) {
	_, conn, br := timeoutsGateway(t)
	conn.SetDeadline(time.Now().Add(5 * time.Second))

	conn.Write([]byte("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"))
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("interim response %q, %v", line, err)
	}
	if l, _ := br.ReadString('\n'); l != "\r\n" {
		t.Fatalf("after 100 Continue: %q", l)
	}
	time.Sleep(100 * time.Millisecond)
	conn.Write([]byte("hello"))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"body_len":5`) {
		t.Fatalf("after 100-continue: %d %s", res.StatusCode, body)
	}

	conn.Write([]byte("GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n"))
	readEchoes(t, br, "/one", "/two")
}

// readEchoes reads one response per URI from br, each a 200 from the test
// backend echoing that URI.
func readEchoes(t *testing.T, br *bufio.Reader, uris ...string) {
	t.Helper()
	for i, want := range uris {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("pipelined response %d (%s): %v", i, want, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.Contains(string(body), `"uri":"`+want+`"`) {
			t.Fatalf("pipelined response %d (%s): %d %s", i, want, res.StatusCode, body)
		}
	}
}

// TestPipelinedSlowResponsesWithinWriteTimeout: pipelined requests are
// answered in one write after the last of them was handled, which here is
// later than write_timeout (400ms) after the first response was ready. The
// write timeout counts from the last response's start, so all three arrive;
// counted from the first, the final write failed and the connection closed.
func TestPipelinedSlowResponsesWithinWriteTimeout(t *testing.T) {
	_, conn, br := timeoutsGateway(t)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /sleep?ms=250 HTTP/1.1\r\nHost: a\r\n\r\n"
	conn.Write([]byte(req + req + req))
	readEchoes(t, br, "/sleep?ms=250", "/sleep?ms=250", "/sleep?ms=250")
}

// TestContinueBodyUnderReadTimeout: after "100 Continue" the body is part
// of the request and must arrive within read_timeout (300ms), not within
// idle_timeout (here 5s), on a new connection and on a kept-alive one.
func TestContinueBodyUnderReadTimeout(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, strings.Replace(serverTimeoutsConfig, "idle_timeout: 500ms", "idle_timeout: 5s", 1), b)
	for _, keepAlive := range []bool{false, true} {
		conn, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		if keepAlive {
			conn.Write([]byte("GET /first HTTP/1.1\r\nHost: a\r\n\r\n"))
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
		}
		start := time.Now()
		conn.Write([]byte("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"))
		if line, err := br.ReadString('\n'); err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("keep-alive %v: interim response %q, %v", keepAlive, line, err)
		}
		// The body never comes.
		if took := closedAfter(conn, start, 3*time.Second); took > 2*time.Second {
			t.Fatalf("keep-alive %v: a body that never came held the connection %v (read_timeout 300ms)", keepAlive, took)
		}
	}
}

// TestSlowBodyGets408: a body that stalls past read_timeout is answered
// 408, chunked or not, before forwarding (the first 64 KiB of a chunked
// body) or while streaming it upstream.
func TestSlowBodyGets408(t *testing.T) {
	for name, req := range map[string]string{
		"chunked, in the prefetch":   "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
		"chunked, while streaming":   "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + "11000\r\n" + strings.Repeat("a", 0x11000) + "\r\n",
		"with a length, streaming":   "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n" + strings.Repeat("a", 100000),
		"with a length, pre-reading": "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc",
	} {
		t.Run(name, func(t *testing.T) {
			g, conn, br := timeoutsGateway(t)
			start := time.Now()
			io.WriteString(conn, req)
			conn.SetReadDeadline(start.Add(3 * time.Second))
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if res.StatusCode != 408 || time.Since(start) > 2*time.Second {
				t.Errorf("got %d after %v, want 408 at read_timeout (300ms)", res.StatusCode, time.Since(start))
			}
			// The client stalled, not the upstream: no upstream error (and
			// no passive-health failure against the target).
			if m := do(t, "GET", g.admin+"/metrics", nil, nil); strings.Contains(string(m.body), "edgeguard_upstream_errors_total{") {
				t.Errorf("counted as an upstream error:\n%s", grepLines(string(m.body), "upstream_errors"))
			}
		})
	}
}
