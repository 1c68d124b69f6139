package proxy

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	_ "github.com/edgeguard/edgeguard/filters/all"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// backend is a real fasthttp upstream on loopback. It echoes what it got as
// JSON and has a few behaviours selected by path.
type backend struct {
	addr string
	name string
	hits atomic.Int64
	srv  *fasthttp.Server
	ln   net.Listener
	last atomic.Pointer[echo]
}

type echo struct {
	Backend string            `json:"backend"`
	Method  string            `json:"method"`
	URI     string            `json:"uri"`
	Headers map[string]string `json:"headers"`
	BodyLen int               `json:"body_len"`
	BodySHA string            `json:"body_sha256"`
	Chunked bool              `json:"chunked"`
	// Trailers are the request's trailer fields (fasthttp keeps them apart
	// from Headers; its Peek finds them too).
	Trailers map[string]string `json:"trailers,omitempty"`
}

func startBackend(t testing.TB, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: ln.Addr().String(), name: name, ln: ln}
	b.srv = &fasthttp.Server{Handler: b.handle, StreamRequestBody: true, MaxRequestBodySize: 1 << 30, DisablePreParseMultipartForm: true}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Shutdown() })
	return b
}

func (b *backend) handle(rc *fasthttp.RequestCtx) {
	b.hits.Add(1)
	path := string(rc.Path())
	switch {
	case strings.HasPrefix(path, "/sleep"):
		ms, _ := strconv.Atoi(string(rc.QueryArgs().Peek("ms")))
		time.Sleep(time.Duration(ms) * time.Millisecond)
	case strings.HasPrefix(path, "/big"):
		n, _ := strconv.Atoi(string(rc.QueryArgs().Peek("n")))
		rc.SetBodyStreamWriter(func(w *bufio.Writer) {
			chunk := make([]byte, 64<<10)
			for i := range chunk {
				chunk[i] = byte('a' + i%26)
			}
			for left := n; left > 0; {
				k := min(left, len(chunk))
				w.Write(chunk[:k])
				w.Flush()
				left -= k
			}
		})
		return
	case strings.HasPrefix(path, "/hop"):
		rc.Response.Header.Set("Connection", "X-Secret, close")
		rc.Response.Header.Set("X-Secret", "hop")
		rc.Response.Header.Set("Keep-Alive", "timeout=5")
	}
	e := &echo{Backend: b.name, Method: string(rc.Method()), URI: string(rc.RequestURI()), Headers: map[string]string{}}
	for k, v := range rc.Request.Header.All() {
		if old, dup := e.Headers[string(k)]; dup {
			// a header sent twice shows as both values, so that tests
			// comparing a value also catch a duplicate
			e.Headers[string(k)] = old + " |DUPLICATE| " + string(v)
			continue
		}
		e.Headers[string(k)] = string(v)
	}
	h := sha256.New()
	var n int64
	if s := rc.RequestBodyStream(); s != nil {
		n, _ = io.Copy(h, s)
	} else {
		m, _ := h.Write(rc.Request.Body())
		n = int64(m)
	}
	e.BodyLen = int(n)
	e.BodySHA = hex.EncodeToString(h.Sum(nil))
	e.Chunked = rc.Request.Header.ContentLength() == -1
	for _, k := range rc.Request.Header.PeekTrailerKeys() {
		if e.Trailers == nil {
			e.Trailers = map[string]string{}
		}
		e.Trailers[string(k)] = string(rc.Request.Header.PeekBytes(k))
	}
	b.last.Store(e)
	out, _ := json.Marshal(e)
	rc.SetContentType("application/json")
	rc.SetBody(out)
}

// gw is a gateway under test, started from YAML text.
type gw struct {
	*Gateway
	url   string
	admin string
	file  string
	logs  *syncBuffer
}

type syncBuffer struct {
	mu  chan struct{}
	buf strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.buf.String()
}

// startGateway writes yaml (with @B1@, @B2@ … replaced by backend addresses
// and @DIR@ by a temp dir) to a file and serves it.
func startGateway(t testing.TB, yaml string, backends ...*backend) *gw {
	t.Helper()
	dir := t.TempDir()
	for i, b := range backends {
		yaml = strings.ReplaceAll(yaml, fmt.Sprintf("@B%d@", i+1), b.addr)
	}
	yaml = strings.ReplaceAll(yaml, "@DIR@", dir)
	if !strings.Contains(yaml, "listen:") {
		yaml = "listen: {http: \"127.0.0.1:0\"}\nadmin: {listen: \"127.0.0.1:0\"}\n" + yaml
	}
	if !strings.Contains(yaml, "access_log:") {
		yaml += "\naccess_log: {path: " + strconv.Quote(filepath.Join(dir, "access.log")) + "}\n"
	}
	if !strings.Contains(yaml, "data_dir:") {
		yaml += "\ndata_dir: " + strconv.Quote(filepath.Join(dir, "data")) + "\n"
	}
	file := filepath.Join(dir, "edgeguard.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{mu: make(chan struct{}, 1)}
	g, err := New(Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Loader: func() (*config.Config, *confnode.Errors) { return config.Load(file) }})
	if err != nil {
		t.Fatalf("gateway config: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Serve() }()
	select {
	case <-g.Ready():
	case err := <-errc:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() { g.Shutdown() })
	out := &gw{Gateway: g, url: "http://" + g.Addr().String(), file: file, logs: logs}
	if a := g.AdminAddr(); a != nil {
		out.admin = "http://" + a.String()
	}
	return out
}

// rewrite replaces the config file (for reload tests).
func (g *gw) rewrite(t testing.TB, yaml string, backends ...*backend) {
	t.Helper()
	for i, b := range backends {
		yaml = strings.ReplaceAll(yaml, fmt.Sprintf("@B%d@", i+1), b.addr)
	}
	if !strings.Contains(yaml, "listen:") {
		yaml = "listen: {http: \"127.0.0.1:0\"}\nadmin: {listen: \"127.0.0.1:0\"}\n" + yaml
	}
	if !strings.Contains(yaml, "access_log:") {
		yaml += "\naccess_log: {path: " + strconv.Quote(filepath.Join(filepath.Dir(g.file), "access.log")) + "}\n"
	}
	if !strings.Contains(yaml, "data_dir:") {
		yaml += "\ndata_dir: " + strconv.Quote(filepath.Join(filepath.Dir(g.file), "data")) + "\n"
	}
	if err := os.WriteFile(g.file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) echo(t testing.TB) *echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("not an echo (status %d): %s", r.status, r.body)
	}
	return &e
}

func do(t testing.TB, method, url string, hdr map[string]string, body io.Reader) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

// rawEcho decodes the echo backend's JSON body from a raw response.
func rawEcho(out string) (echo, bool) {
	var e echo
	_, body, _ := strings.Cut(out, "\r\n\r\n")
	return e, json.Unmarshal([]byte(body), &e) == nil
}

// raw sends bytes over a new TCP connection and returns everything the
// gateway answered until it closed the connection or went quiet.
func raw(t testing.TB, addr string, req string) string {
	t.Helper()
	return rawFrom(t, "", addr, req)
}

// rawFrom is raw from the local address src ("" for any).
func rawFrom(t testing.TB, src, addr string, req string) string {
	t.Helper()
	var d net.Dialer
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(req))
	// Read until the peer closes, goes quiet, or one complete response with a
	// Content-Length has arrived and nothing follows quickly.
	var out []byte
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		// Generous for the first byte (a loaded CI machine), short once a
		// whole response is in (only a pipelined second one could follow).
		wait := 1500 * time.Millisecond
		switch {
		case completeResponse(out):
			wait = 100 * time.Millisecond
		case len(out) > 0:
			wait = 600 * time.Millisecond
		}
		c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	return string(out)
}

// completeResponse reports whether b holds at least one whole response
// framed by Content-Length.
func completeResponse(b []byte) bool {
	s := string(b)
	i := strings.Index(s, "\r\n\r\n")
	if i < 0 {
		return false
	}
	head := strings.ToLower(s[:i])
	j := strings.Index(head, "content-length: ")
	if j < 0 {
		return false
	}
	n, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(head[j+16:], "\r\n", 2)[0]))
	return len(s)-i-4 >= n
}

// readFile reads name beside the gateway's config file (its access log, its
// audit log).
func readFile(t testing.TB, config, name string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(config), name))
	return string(b)
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
