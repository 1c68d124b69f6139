// Package examples holds one runnable config per section of the article and
// the acceptance suite: for each example it starts the real edgeguard binary
// with that config, a real backend (echo-backend) and whatever else the
// section needs, then plays the article's scenarios as an outside client.
package examples

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cristalhq/jwt/v4"
	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/examples/echo-backend/echo"
	"github.com/edgeguard/edgeguard/filters/ratelimit/redistest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgeguard-acceptance")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "edgeguard")
	build := exec.Command("go", "build", "-o", binary, "../cmd/edgeguard")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build edgeguard:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const secret = "acceptance-secret-0123456789abcdef!!"

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startBackend(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: echo.Handler(nil)}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown() })
	return ln.Addr().String()
}

// gateway is a running edgeguard process.
type gateway struct {
	url, admin, accessLog string
	cmd                   *exec.Cmd
	stderr                *lockedWriter
}

// start runs the binary with examples/<name>/edgeguard.yaml and env.
func start(t *testing.T, name string, env ...string) *gateway {
	t.Helper()
	dir := t.TempDir()
	g := &gateway{accessLog: filepath.Join(dir, "access.log"), stderr: &lockedWriter{}}
	listen, admin := freeAddr(t), freeAddr(t)
	g.url, g.admin = "http://"+listen, "http://"+admin
	file := "edgeguard.yaml"
	if n, f, ok := strings.Cut(name, ":"); ok { // "tls:acme.yaml"
		name, file = n, f
	}
	cfg, _ := filepath.Abs(filepath.Join(name, file))
	g.cmd = exec.Command(binary, "run", "-c", cfg)
	g.cmd.Env = append(os.Environ(), "LISTEN="+listen, "ADMIN_LISTEN="+admin, "DATA_DIR="+filepath.Join(dir, "data"),
		"ACCESS_LOG="+g.accessLog, "JWT_SECRET="+secret, "BACKEND="+startBackend(t))
	g.cmd.Env = append(g.cmd.Env, env...)
	g.cmd.Stderr = g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.stop() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(g.admin + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return g
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not become ready: %s", name, g.stderr.String())
	return nil
}

// lockedWriter collects the gateway's stderr, which os/exec copies from
// its own goroutine while the test reads it.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func (g *gateway) stop() {
	if g.cmd.Process != nil && g.cmd.ProcessState == nil {
		g.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { g.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			g.cmd.Process.Kill()
		}
	}
}

type result struct {
	status int
	header http.Header
	body   string
}

func (r result) echoed(t *testing.T) map[string]string {
	t.Helper()
	var e struct{ Headers map[string]string }
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Headers == nil {
		t.Fatalf("not a backend answer (%d): %s", r.status, r.body)
	}
	return e.Headers
}

var client = &http.Client{Timeout: 10 * time.Second}

func send(t *testing.T, method, url string, hdr map[string]string, body string) result {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return result{res.StatusCode, res.Header, string(b)}
}

func token(t *testing.T, claims map[string]any) string {
	s, _ := jwt.NewSignerHS(jwt.HS256, []byte(secret))
	tok, err := jwt.NewBuilder(s).Build(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok.String()
}

func user(t *testing.T, sub string, extra map[string]any) string {
	c := map[string]any{"iss": "example-issuer", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	return token(t, c)
}

// accessLogLines waits for the access log to hold at least n lines.
func accessLogLines(t *testing.T, g *gateway, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i := 0; i < 50; i++ {
		out = out[:0]
		f, err := os.Open(g.accessLog)
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var m map[string]any
				if json.Unmarshal(sc.Bytes(), &m) == nil {
					out = append(out, m)
				}
			}
			f.Close()
		}
		if len(out) >= n {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("access log has %d lines, want %d", len(out), n)
	return nil
}

func metrics(t *testing.T, g *gateway) string {
	return send(t, "GET", g.admin+"/metrics", nil, "").body
}

func TestAuthAndIdentity(t *testing.T) {
	g := start(t, "auth")
	host := "api.example.com"
	tok := user(t, "user-42", map[string]any{"email": "u42@example.com", "roles": []string{"reader", "writer"}})
	r := send(t, "GET", g.url+"/orders", map[string]string{"Host": host, "Authorization": "Bearer " + tok,
		"X-User-ID": "admin", "X-User-Roles": "superuser"}, "")
	h := r.echoed(t)
	if h["X-User-Id"] != "user-42" || h["X-User-Email"] != "u42@example.com" || h["X-User-Roles"] != "reader,writer" {
		t.Fatalf("a forged X-User-ID must never reach the backend; got %v", h)
	}
	expired := token(t, map[string]any{"iss": "example-issuer", "sub": "user-42", "exp": time.Now().Add(-time.Minute).Unix()})
	for name, hdr := range map[string]map[string]string{
		"no token": {"Host": host},
		"expired":  {"Host": host, "Authorization": "Bearer " + expired},
		"forged":   {"Host": host, "Authorization": "Bearer " + tok[:len(tok)-4] + "AAAA"},
	} {
		if r := send(t, "GET", g.url+"/orders", hdr, ""); r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	lines := accessLogLines(t, g, 4)
	if lines[1]["rejected_by"] != "jwt-auth" || lines[1]["status"] != 401.0 {
		t.Errorf("access log does not show the jwt rejection: %v", lines[1])
	}
	if !strings.Contains(metrics(t, g), `edgeguard_rejections_total{route="api-ingress",plugin="jwt-auth"`) {
		t.Error("metrics do not show the rejections")
	}
}

func TestRateLimitTiers(t *testing.T) {
	rs := redistest.Start(t)
	host, port, _ := strings.Cut(rs.Addr(), ":")
	g := start(t, "rate-limits", "REDIS_HOST="+host, "REDIS_PORT="+port)
	std := map[string]string{"Host": "api.example.com", "Authorization": "Bearer " + user(t, "standard-client", nil)}
	prem := map[string]string{"Host": "api.example.com", "Authorization": "Bearer " + user(t, "premium-client", nil)}
	counts := func(path string, hdr map[string]string, n int) (ok, limited int) {
		for i := 0; i < n; i++ {
			switch send(t, "GET", g.url+path, hdr, "").status {
			case 200:
				ok++
			case 429:
				limited++
			}
		}
		return
	}
	// A standard-tier client hits its 10/s limit while a premium client does not.
	ok, limited := counts("/v1/items", std, 20)
	if ok < 10 || ok > 12 || limited == 0 {
		t.Fatalf("standard tier: %d ok, %d limited (limit 10/s)", ok, limited)
	}
	ok, limited = counts("/v1/premium/items", prem, 40)
	if ok != 40 || limited != 0 {
		t.Fatalf("premium tier: %d ok, %d limited (limit 100/s)", ok, limited)
	}
	r := send(t, "GET", g.url+"/v1/items", std, "")
	if r.status == 429 && (r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "API rate limit exceeded")) {
		t.Errorf("429 without Retry-After or Kong's body: %v %s", r.header, r.body)
	}
	// The counters live in Redis, as the article's policy: redis says.
	if c, err := net.Dial("tcp", rs.Addr()); err == nil {
		fmt.Fprint(c, "DBSIZE\r\n")
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, ":") || strings.HasPrefix(line, ":0") {
			t.Errorf("no rate-limit keys in Redis: %q", line)
		}
	}
	if !strings.Contains(metrics(t, g), `edgeguard_http_requests_total{route="api-standard",service="api",code="429"}`) {
		t.Error("metrics do not show the 429s")
	}
}

func TestValidation(t *testing.T) {
	g := start(t, "validation")
	js := map[string]string{"Content-Type": "application/json"}
	if r := send(t, "POST", g.url+"/users", js, `{"name":"Ada Lovelace","email":"ada@example.com","phone":"+441234567890"}`); r.status != 200 {
		t.Fatalf("valid user: %d %s", r.status, r.body)
	}
	// The article's schema rejects a bad phone number, without details.
	r := send(t, "POST", g.url+"/users", js, `{"name":"Ada","email":"ada@example.com","phone":"12-34"}`)
	if r.status != 400 || r.body != `{"message":"request body doesn't conform to schema"}` {
		t.Fatalf("bad phone: %d %s", r.status, r.body)
	}
	// A 12 MB body is refused.
	c, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", 12<<20, strings.Repeat(" ", 9000))
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	status, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(status, "HTTP/1.1 413") {
		t.Fatalf("12 MB body: %q", status)
	}
	lines := accessLogLines(t, g, 3)
	if lines[1]["reason"] == nil || lines[2]["status"] != 413.0 {
		t.Errorf("access log: %v / %v", lines[1], lines[2])
	}
}

func TestIPControls(t *testing.T) {
	g := start(t, "ip-controls")
	tok := "Bearer " + user(t, "ops", nil)
	admin := func(xff string) result {
		return send(t, "GET", g.url+"/users", map[string]string{"Host": "admin-api.example.com", "Authorization": tok, "X-Forwarded-For": xff}, "")
	}
	// Through the trusted load balancer (127.0.0.1): only 10.0.0.0/8 and the VPN exit.
	if r := admin("10.20.30.40"); r.status != 200 {
		t.Fatalf("internal client: %d %s", r.status, r.body)
	}
	if r := admin("192.168.1.100"); r.status != 200 {
		t.Fatalf("VPN exit: %d", r.status)
	}
	if r := admin("203.0.113.50"); r.status != 403 || !strings.Contains(r.body, "IP address not allowed: 203.0.113.50") {
		t.Fatalf("outside client: %d %s", r.status, r.body)
	}
	if r := admin("10.1.1.1, 203.0.113.50"); r.status != 403 {
		t.Fatalf("spoofed left-most XFF: %d", r.status)
	}
	// Dynamic block through the admin API, then unblock.
	r := send(t, "POST", g.admin+"/blocklist", nil, `{"ip":"10.20.30.40","ttl":"1h","reason":"compromised host"}`)
	if r.status != 201 {
		t.Fatalf("block: %d %s", r.status, r.body)
	}
	if r := admin("10.20.30.40"); r.status != 403 {
		t.Fatalf("blocked client: %d", r.status)
	}
	send(t, "DELETE", g.admin+"/blocklist/10.20.30.40", nil, "")
	if r := admin("10.20.30.40"); r.status != 200 {
		t.Fatalf("unblocked client: %d", r.status)
	}
	// An abusive IP is blocked automatically: 11 401s score 110 > 100.
	for i := 0; i < 11; i++ {
		send(t, "GET", g.url+"/x", map[string]string{"Host": "api.example.com", "X-Forwarded-For": "198.51.100.66"}, "")
	}
	if r := send(t, "GET", g.url+"/x", map[string]string{"Host": "api.example.com", "X-Forwarded-For": "198.51.100.66", "Authorization": tok}, ""); r.status != 403 {
		t.Fatalf("abusive client not blocked: %d %s", r.status, r.body)
	}
	list := send(t, "GET", g.admin+"/blocklist", nil, "").body
	if !strings.Contains(list, `"198.51.100.66"`) || !strings.Contains(list, `"source": "abuse"`) {
		t.Fatalf("blocklist: %s", list)
	}
	if !strings.Contains(g.stderr.String(), "IP blocked for abuse") || !strings.Contains(metrics(t, g), "edgeguard_abuse_blocks_total 1") {
		t.Error("auto-block not logged or counted")
	}
}

func TestBots(t *testing.T) {
	g := start(t, "bots")
	browser := map[string]string{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36", "Accept-Language": "en"}
	if r := send(t, "GET", g.url+"/", browser, ""); r.status != 200 {
		t.Fatalf("browser: %d", r.status)
	}
	for _, ua := range []string{"curl/8.5.0", "Wget/1.21.4", "python-requests/2.31.0"} {
		if r := send(t, "GET", g.url+"/", map[string]string{"User-Agent": ua}, ""); r.status != 403 {
			t.Errorf("%s: %d", ua, r.status)
		}
	}
	if r := send(t, "GET", g.url+"/", map[string]string{"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}, ""); r.status != 200 {
		t.Errorf("Googlebot: %d %s", r.status, r.body)
	}
	// A client cannot set its own bot score.
	h := send(t, "GET", g.url+"/", map[string]string{"User-Agent": browser["User-Agent"], "Accept-Language": "en", "X-Bot-Score": "0"}, "").echoed(t)
	if _, ok := h["X-Bot-Score"]; ok {
		t.Errorf("client-sent X-Bot-Score reached the backend: %v", h)
	}
}
