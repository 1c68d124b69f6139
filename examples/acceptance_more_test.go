package examples

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters/jwt/jwttest"
	"github.com/edgeguard/edgeguard/tlsconf/tlstest"
)

// TestTLS: HTTP is redirected to HTTPS with the same host, path and query;
// HTTPS answers with HSTS; TLS 1.1 is refused.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "acceptance CA")
	leaf := ca.Issue(t, dir, "api", tlstest.Options{}, "api.example.com")
	https := freeAddr(t)
	g := start(t, "tls", "LISTEN_HTTPS="+https, "TLS_CERT="+leaf.CertFile, "TLS_KEY="+leaf.KeyFile)

	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", g.url+"/orders?x=1", nil)
	req.Host = "api.example.com"
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// The HTTPS listener is not on 443 here, so the redirect names its port.
	_, port, _ := net.SplitHostPort(https)
	if res.StatusCode != 308 || res.Header.Get("Location") != "https://api.example.com:"+port+"/orders?x=1" {
		t.Fatalf("redirect: %d %q", res.StatusCode, res.Header.Get("Location"))
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "api.example.com"}}
	cl := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	req, _ = http.NewRequest("GET", "https://"+https+"/orders", nil)
	req.Host = "api.example.com"
	res, err = cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Strict-Transport-Security"), "max-age=31536000; includeSubDomains") {
		t.Fatalf("https: %d %v", res.StatusCode, res.Header)
	}
	// TLS 1.1 and weak suites are refused.
	conn, err := tls.Dial("tcp", https, &tls.Config{RootCAs: ca.Pool, ServerName: "api.example.com", MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
}

// TestLogging: the access log and the http-log collector show each request,
// with the user id from the token and secrets redacted; the metrics carry
// Kong's names for the article's alerts, whose promtool rule tests pass.
func TestLogging(t *testing.T) {
	var mu sync.Mutex
	var batches []string
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		batches = append(batches, string(b))
		mu.Unlock()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	g := start(t, "logging", "LOG_COLLECTOR=http://"+ln.Addr().String()+"/logs")

	tok := user(t, "user-42", nil)
	if r := send(t, "GET", g.url+"/orders", map[string]string{"Authorization": "Bearer " + tok, "X-Api-Key": "k-123"}, ""); r.status != 200 {
		t.Fatalf("authorised: %d", r.status)
	}
	if r := send(t, "GET", g.url+"/orders", nil, ""); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
	lines := accessLogLines(t, g, 2)
	if !strings.Contains(lineString(lines[0]), `"user_id":"user-42"`) || lines[1]["rejected_by"] != "jwt-auth" {
		t.Errorf("access log: %v / %v", lines[0], lines[1])
	}
	var all string
	for i := 0; i < 60; i++ {
		mu.Lock()
		all = strings.Join(batches, "\n")
		mu.Unlock()
		if strings.Count(all, `"request"`) >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(all, `"user_id":"user-42"`) || !strings.Contains(all, "REDACTED") || strings.Contains(all, tok) || strings.Contains(all, "k-123") {
		t.Errorf("http-log batches: %s", all)
	}
	m := metrics(t, g)
	for _, want := range []string{`kong_http_status{service="api",route="api",code="401"} 1`, `kong_http_status{service="api",route="api",code="200"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if _, err := exec.LookPath("promtool"); err == nil {
		for _, f := range []string{"alerts_test.yml", "alerts-kong-compat_test.yml"} {
			cmd := exec.Command("promtool", "test", "rules", f)
			cmd.Dir = filepath.Join("..", "deploy", "prometheus")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool test rules %s: %v\n%s", f, err, out)
			}
		}
	}
}

func lineString(m map[string]any) string {
	var b strings.Builder
	for k, v := range m {
		b.WriteString(`"` + k + `":`)
		if s, ok := v.(string); ok {
			b.WriteString(`"` + s + `"`)
		}
		b.WriteString(",")
	}
	return b.String()
}

// TestAllInOne: the combined config starts and enforces its chain over HTTPS.
func TestAllInOne(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "acceptance CA")
	leaf := ca.Issue(t, dir, "api", tlstest.Options{}, "api.example.com", "admin-api.example.com")
	https := freeAddr(t)
	g := start(t, "all-in-one", "LISTEN_HTTPS="+https, "TLS_CERT="+leaf.CertFile, "TLS_KEY="+leaf.KeyFile,
		"ADMIN_TOKEN=acceptance-admin-token-0123", "LOG_COLLECTOR=http://127.0.0.1:1/logs")
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "api.example.com"}}}
	get := func(host, path string, hdr map[string]string) (int, http.Header, string) {
		req, _ := http.NewRequest("GET", "https://"+https+path, nil)
		req.Host = host
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, res.Header, string(b)
	}
	auth := map[string]string{"Authorization": "Bearer " + user(t, "user-42", map[string]any{"email": "u42@example.com"}), "X-User-ID": "admin"}
	status, h, body := get("api.example.com", "/v1/items", auth)
	if status != 200 || h.Get("Strict-Transport-Security") == "" || !strings.Contains(body, `"X-User-Id": "user-42"`) || strings.Contains(body, `"admin"`) {
		t.Fatalf("authorised request: %d %v %s", status, h, body)
	}
	if status, _, _ := get("api.example.com", "/v1/items", nil); status != 401 {
		t.Fatalf("no token: %d", status)
	}
	if status, _, _ := get("admin-api.example.com", "/", auth); status != 403 {
		t.Fatalf("admin route from outside 10.0.0.0/8: %d", status)
	}
	if r := send(t, "GET", g.admin+"/status", nil, ""); r.status != 401 {
		t.Fatalf("admin API without its token: %d", r.status)
	}
}

// TestTLSACME: examples/tls/acme.yaml obtains its certificate from a real ACME
// server (pebble, Let's Encrypt's test server) that validates tls-alpn-01
// against the gateway's HTTPS listener.
func TestTLSACME(t *testing.T) {
	port := tlstest.FreePort(t)
	pb := tlstest.StartPebble(t, tlstest.PebbleOptions{HTTPPort: tlstest.FreePort(t), TLSPort: port})
	https := fmt.Sprintf("127.0.0.1:%d", port)
	g := start(t, "tls:acme.yaml", "LISTEN_HTTPS="+https, "ACME_HOST=acme.test", "ACME_DIRECTORY="+pb.DirectoryURL, "ACME_CA_FILE="+pb.CAFile)
	_ = g
	cl := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pb.Roots(t), ServerName: "acme.test"},
	}}
	req, _ := http.NewRequest("GET", "https://"+https+"/issued", nil)
	req.Host = "acme.test"
	res, err := cl.Do(req)
	if err != nil {
		t.Fatalf("https with the ACME certificate: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.TLS.PeerCertificates[0].Issuer.CommonName, "Pebble") || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("%d, issuer %s, %v", res.StatusCode, res.TLS.PeerCertificates[0].Issuer, res.Header)
	}
}

// TestAuthJWKS: examples/auth/jwks.yaml against a real JWKS server on
// loopback: RS256 tokens verified with the provider's published keys, a
// rotated key picked up on its first use, identity headers forwarded.
func TestAuthJWKS(t *testing.T) {
	keys := jwttest.NewKeys()
	var mu sync.Mutex
	published := jwttest.JWKS(keys.JWK("RS256", "k1", true))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(published)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	issuer := "http://" + ln.Addr().String() + "/"
	g := start(t, "auth:jwks.yaml", "ISSUER="+issuer, "JWKS_URI="+issuer+"keys", "AUDIENCE=api.example.com", "UNKNOWN_KID_INTERVAL=1s")
	claims := func(sub string) map[string]any {
		return map[string]any{"iss": issuer, "sub": sub, "aud": "api.example.com", "email": sub + "@example.com", "exp": time.Now().Add(time.Hour).Unix()}
	}
	hdr := func(tok string) map[string]string {
		return map[string]string{"Host": "api.example.com", "Authorization": "Bearer " + tok, "X-User-ID": "admin"}
	}
	r := send(t, "GET", g.url+"/orders", hdr(keys.Sign("RS256", "k1", claims("user-42"))), "")
	if h := r.echoed(t); h["X-User-Id"] != "user-42" || h["X-User-Email"] != "user-42@example.com" {
		t.Fatalf("RS256 via JWKS: %v", h)
	}
	// Rotation: the provider publishes a new key; a token with the new kid works.
	rotated := jwttest.NewKeys()
	mu.Lock()
	published = jwttest.JWKS(keys.JWK("RS256", "k1", true), rotated.JWK("ES256", "k2", true))
	mu.Unlock()
	ok := false
	for i := 0; i < 30 && !ok; i++ {
		ok = send(t, "GET", g.url+"/orders", hdr(rotated.Sign("ES256", "k2", claims("user-7"))), "").status == 200
		if !ok {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatal("a token signed with the rotated key was never accepted")
	}
	// A token signed by someone else's key with a known kid is refused.
	if r := send(t, "GET", g.url+"/orders", hdr(rotated.Sign("RS256", "k1", claims("mallory"))), ""); r.status != 401 {
		t.Fatalf("foreign key: %d", r.status)
	}
}
