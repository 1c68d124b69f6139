package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/tlsconf/tlstest"
)

// tlsEnv is a gateway with an HTTPS listener: certificates for api.test
// (ECDSA and RSA), *.wild.test and a default (default.test, 127.0.0.1).
type tlsEnv struct {
	*gw
	ca                *tlstest.CA
	clientCA          *tlstest.CA
	dir               string
	api, apiRSA, wild *tlstest.Leaf
	def               *tlstest.Leaf
	https             string
	be                *backend
}

const tlsYAML = `listen:
  http: "127.0.0.1:0"
  https: "@HTTPS@"
  tls:
    certificates:
      - {cert_file: @DIR@/api.pem, key_file: @DIR@/api.key}
      - {cert_file: @DIR@/api-rsa.pem, key_file: @DIR@/api-rsa.key}
      - {cert_file: @DIR@/wild.pem, key_file: @DIR@/wild.key}
      - {cert_file: @DIR@/def.pem, key_file: @DIR@/def.key, default: true}
    reload_interval: 100ms
@EXTRA@
admin: {listen: "127.0.0.1:0"}
data_dir: @DIR@/data
services:
  - {name: api, targets: ["@B1@"]}
routes:
  - {name: api, paths: ["/"], service: api}
`

func startTLSGateway(t testing.TB, extra string) *tlsEnv {
	t.Helper()
	return startTLSGatewayAt(t, "127.0.0.1:0", extra)
}

func startTLSGatewayAt(t testing.TB, httpsAddr, extra string) *tlsEnv {
	t.Helper()
	return startTLSGatewayOn(t, "127.0.0.1:0", httpsAddr, extra)
}

func startTLSGatewayOn(t testing.TB, httpAddr, httpsAddr, extra string) *tlsEnv {
	t.Helper()
	e := &tlsEnv{ca: tlstest.NewCA(t, "server CA"), clientCA: tlstest.NewCA(t, "client CA"), dir: t.TempDir()}
	e.api = e.ca.Issue(t, e.dir, "api", tlstest.Options{}, "api.test")
	e.apiRSA = e.ca.Issue(t, e.dir, "api-rsa", tlstest.Options{Key: tlstest.RSA}, "api.test")
	e.wild = e.ca.Issue(t, e.dir, "wild", tlstest.Options{}, "*.wild.test")
	e.def = e.ca.Issue(t, e.dir, "def", tlstest.Options{}, "default.test", "127.0.0.1")
	e.be = startBackend(t, "api")
	y := tlsYAML
	y = strings.ReplaceAll(y, "@HTTPS@", httpsAddr)
	y = strings.Replace(y, `http: "127.0.0.1:0"`, `http: "`+httpAddr+`"`, 1)
	y = strings.ReplaceAll(y, "@EXTRA@", extra)
	y = strings.ReplaceAll(y, "@DIR@", e.dir)
	y = strings.ReplaceAll(y, "@CLIENTCA@", e.clientCA.File)
	e.gw = startGateway(t, y, e.be)
	e.https = e.HTTPSAddr().String()
	return e
}

// client returns an HTTP client that dials the HTTPS listener whatever the
// URL's host, with SNI from the URL.
func (e *tlsEnv) client(mod func(*tls.Config)) *http.Client {
	c := &tls.Config{RootCAs: e.ca.Pool}
	if mod != nil {
		mod(c)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: c, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: false,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", e.https)
		},
	}}
}

func get(t testing.TB, c *http.Client, url string, hdr map[string]string) (*http.Response, []byte, error) {
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

func TestTLSEndToEnd(t *testing.T) {
	e := startTLSGateway(t, "")
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		c := e.client(func(c *tls.Config) { c.MinVersion, c.MaxVersion = v, v })
		res, body, err := get(t, c, "https://api.test/v1/hello?x=1", nil)
		if err != nil {
			t.Fatalf("v%x: %v", v, err)
		}
		if res.StatusCode != 200 || res.TLS.Version != v {
			t.Fatalf("v%x: %d %x", v, res.StatusCode, res.TLS.Version)
		}
		if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
			t.Fatalf("HSTS %q", got)
		}
		ec := (resp{status: res.StatusCode, body: body}).echo(t)
		if ec.Headers["X-Forwarded-Proto"] != "https" || ec.URI != "/v1/hello?x=1" ||
			ec.Headers["X-Forwarded-For"] != "127.0.0.1" || ec.Headers["X-Real-Ip"] != "127.0.0.1" {
			t.Fatalf("upstream saw %+v", ec)
		}
		if res.TLS.PeerCertificates[0].DNSNames[0] != "api.test" {
			t.Fatalf("cert %v", res.TLS.PeerCertificates[0].DNSNames)
		}
	}
	// Old protocols and weak suites are refused.
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		c := e.client(func(c *tls.Config) { c.MinVersion, c.MaxVersion = v, v })
		if _, _, err := get(t, c, "https://api.test/", nil); err == nil {
			t.Fatalf("TLS version %x accepted", v)
		}
	}
	for _, s := range []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA} {
		c := e.client(func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12; c.CipherSuites = []uint16{s} })
		if _, _, err := get(t, c, "https://api.test/", nil); err == nil {
			t.Fatalf("%s accepted", tls.CipherSuiteName(s))
		}
	}
	// SNI choice.
	for sni, want := range map[string]string{"api.test": "api.test", "x.wild.test": "*.wild.test", "other.test": "default.test"} {
		c := e.client(func(c *tls.Config) { c.InsecureSkipVerify = true })
		res, _, err := get(t, c, "https://"+sni+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.TLS.PeerCertificates[0].DNSNames[0]; got != want {
			t.Errorf("SNI %s: %s, want %s", sni, got, want)
		}
	}
	// The plain listener still serves (no redirect configured), without HSTS.
	r := do(t, "GET", e.url+"/plain", nil, nil)
	if r.status != 200 || r.header.Get("Strict-Transport-Security") != "" {
		t.Fatalf("http: %d %q", r.status, r.header.Get("Strict-Transport-Security"))
	}
}

var noRedirect = &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestTLSRedirect(t *testing.T) {
	e := startTLSGateway(t, "    redirect_http: true\n    redirect_status_get: 301\n    hsts: {max_age: 63072000, preload: true}")
	_, port, _ := net.SplitHostPort(e.https)
	for _, tc := range []struct {
		method, path, host string
		status             int
	}{
		{"GET", "/a/b?q=1&r=%20", "api.test", 301},
		{"HEAD", "/h", "api.test:80", 301},
		{"POST", "/p?x", "api.test", 308},
		{"PUT", "/", "other.test", 308},
	} {
		req, _ := http.NewRequest(tc.method, e.url+tc.path, nil)
		req.Host = tc.host
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		want := "https://" + strings.Split(tc.host, ":")[0] + ":" + port + tc.path
		if res.StatusCode != tc.status || res.Header.Get("Location") != want {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, res.StatusCode, res.Header.Get("Location"), tc.status, want)
		}
	}
	if e.be.hits.Load() != 0 {
		t.Fatal("a redirected request reached the upstream")
	}
	// ACME challenges are not redirected (no ACME here: the route answers),
	// but only a path that is one once normalised.
	if r := do(t, "GET", e.url+"/.well-known/acme-challenge/tok", nil, nil); r.status != 200 {
		t.Fatalf("challenge: %d", r.status)
	}
	hits := e.be.hits.Load()
	_, httpPort, _ := net.SplitHostPort(strings.TrimPrefix(e.url, "http://"))
	for _, target := range []string{"/.well-known/acme-challenge/../../v1/orders?id=1", "/.well-known/acme-challenge/%2e%2e/%2e%2e/v1"} {
		out := raw(t, "127.0.0.1:"+httpPort, "GET "+target+" HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 301") || !strings.Contains(out, "Location: https://api.test:"+port+"/") {
			t.Errorf("%s over plain HTTP: %.100q", target, out)
		}
	}
	// An absolute-form target is redirected by its own authority, as it is
	// routed.
	out := raw(t, "127.0.0.1:"+httpPort, "GET http://other.test/secret HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 301") || !strings.Contains(out, "Location: https://other.test:"+port+"/secret") {
		t.Errorf("absolute-form: %.200q", out)
	}
	if e.be.hits.Load() != hits {
		t.Fatal("a request that should have been redirected reached the upstream")
	}
	// Following the redirect lands on HTTPS with the configured HSTS.
	c := e.client(nil)
	res, _, err := get(t, c, "https://api.test:"+port+"/a", nil)
	if err != nil || res.Header.Get("Strict-Transport-Security") != "max-age=63072000; includeSubDomains; preload" {
		t.Fatalf("%v %v", err, res.Header)
	}
	// So do the answers to requests the server could not read.
	res, _, err = get(t, e.client(nil), "https://api.test:"+port+"/a", map[string]string{"X-Big": strings.Repeat("a", 20000)})
	if err != nil || res.StatusCode != 431 || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("431 over HTTPS: %v %v", err, res)
	}
}

func TestTLSMutualAuth(t *testing.T) {
	for _, mode := range []string{"require", "optional"} {
		t.Run(mode, func(t *testing.T) {
			e := startTLSGateway(t, "    client_ca_file: @CLIENTCA@\n    client_cert_header: X-SSL-Client-Subject\n    client_auth: "+mode)
			alice := e.clientCA.Issue(t, e.dir, "alice", tlstest.Options{Client: true}, "alice")
			evil := tlstest.NewCA(t, "evil").Issue(t, e.dir, "evil", tlstest.Options{Client: true}, "alice")
			pair, _ := tls.LoadX509KeyPair(alice.CertFile, alice.KeyFile)
			bad, _ := tls.LoadX509KeyPair(evil.CertFile, evil.KeyFile)
			spoof := map[string]string{"X-SSL-Client-Subject": "CN=admin", "X_SSL_Client_Subject": "CN=admin", "X-Client-Cert-Subject": "CN=admin"}

			c := e.client(func(c *tls.Config) { c.Certificates = []tls.Certificate{pair} })
			res, body, err := get(t, c, "https://api.test/x", spoof)
			if err != nil {
				t.Fatal(err)
			}
			ec := (resp{status: res.StatusCode, body: body}).echo(t)
			if ec.Headers["X-Ssl-Client-Subject"] != "CN=alice,O=edgeguard test" || len(clientHeaders(ec.Headers)) != 1 {
				t.Fatalf("upstream saw %v", ec.Headers)
			}
			c = e.client(func(c *tls.Config) {
				c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &bad, nil }
			})
			if _, _, err := get(t, c, "https://api.test/x", nil); err == nil {
				t.Fatal("a certificate from another CA was accepted")
			}
			res, body, err = get(t, e.client(nil), "https://api.test/x", spoof)
			if mode == "require" {
				if err == nil {
					t.Fatal("no client certificate accepted")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				ec := (resp{status: res.StatusCode, body: body}).echo(t)
				if len(clientHeaders(ec.Headers)) != 0 {
					t.Fatalf("spoofed header forwarded: %v", ec.Headers)
				}
			}
			// The plain listener strips it too.
			ec = do(t, "GET", e.url+"/x", spoof, nil).echo(t)
			if len(clientHeaders(ec.Headers)) != 0 {
				t.Fatalf("spoofed header forwarded from HTTP: %v", ec.Headers)
			}
		})
	}
}

func clientHeaders(h map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if strings.Contains(strings.ToLower(k), "client") {
			out[k] = v
		}
	}
	return out
}

// TestTLSClientCertDefaultHeader: with the default header name
// (X-Client-Cert-Subject, which the handler strips as gateway-only) a
// client's value never reaches the upstream; the verified subject does once
// the handler calls forwardClientCert after rewriteRequest.
func TestTLSClientCertDefaultHeader(t *testing.T) {
	e := startTLSGateway(t, "    client_ca_file: @CLIENTCA@")
	alice := e.clientCA.Issue(t, e.dir, "alice", tlstest.Options{Client: true}, "alice")
	pair, _ := tls.LoadX509KeyPair(alice.CertFile, alice.KeyFile)
	c := e.client(func(c *tls.Config) { c.Certificates = []tls.Certificate{pair} })
	res, body, err := get(t, c, "https://api.test/x", map[string]string{"X-Client-Cert-Subject": "CN=admin"})
	if err != nil {
		t.Fatal(err)
	}
	got := clientHeaders((resp{status: res.StatusCode, body: body}).echo(t).Headers)
	switch got["X-Client-Cert-Subject"] {
	case "CN=alice,O=edgeguard test":
	case "":
		if len(got) != 0 {
			t.Fatalf("upstream saw %v", got)
		}
		t.Log("verified subject not forwarded: handler.go does not call forwardClientCert yet")
	default:
		t.Fatalf("upstream saw %v", got)
	}
}

// TestTLSReloadUnderLoad renews the certificate files (and once writes a
// broken one) while clients keep opening new connections: no request
// fails, and the renewed certificate ends up served.
func TestTLSReloadUnderLoad(t *testing.T) {
	e := startTLSGateway(t, "")
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// A new connection each time (full handshake), plus a
				// kept-alive one every other request.
				c := e.client(nil)
				if i%2 == 1 {
					c.Transport.(*http.Transport).DisableKeepAlives = true
				}
				res, _, err := get(t, c, "https://api.test/load", nil)
				if err != nil || res.StatusCode != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprint(err))
				} else {
					ok.Add(1)
				}
				c.CloseIdleConnections()
			}
		}(i)
	}
	var last *tlstest.Leaf
	for i := 0; i < 4; i++ {
		time.Sleep(250 * time.Millisecond)
		last = e.ca.Issue(t, t.TempDir(), "renew", tlstest.Options{}, "api.test")
		last.WriteTo(t, e.api.CertFile, e.api.KeyFile)
		if i == 1 {
			time.Sleep(250 * time.Millisecond)
			os.WriteFile(e.api.CertFile, []byte("broken"), 0o600)
			time.Sleep(250 * time.Millisecond)
			last.WriteTo(t, e.api.CertFile, e.api.KeyFile)
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during reloads: %v", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	reloads, refused := e.TLSManager().Reloads()
	t.Logf("%d requests, %d reloads, %d refused", ok.Load(), reloads, refused)
	if refused == 0 || reloads < 4 {
		t.Fatalf("reloads %d refused %d", reloads, refused)
	}
	res, _, err := get(t, e.client(nil), "https://api.test/", nil)
	if err != nil || res.TLS.PeerCertificates[0].SerialNumber.Cmp(last.Cert.SerialNumber) != 0 {
		t.Fatalf("renewed certificate not served: %v", err)
	}
}

// TestTLSConfigReload: a config reload (SIGHUP) applies new TLS settings;
// an invalid TLS section is refused with the old one kept.
func TestTLSConfigReload(t *testing.T) {
	e := startTLSGateway(t, "")
	y, _ := os.ReadFile(e.file)
	addr := e.https
	y2 := strings.Replace(string(y), "https: \"127.0.0.1:0\"", "https: \""+addr+"\"", 1)
	bad := strings.Replace(y2, "reload_interval: 100ms", "reload_interval: 100ms\n    ciphers: AES128-SHA", 1)
	os.WriteFile(e.file, []byte(bad), 0o600)
	if _, err := e.Reload(); err == nil || !strings.Contains(err.Error(), "listen.tls.ciphers: cipher \"AES128-SHA\" is weak") {
		t.Fatalf("bad reload: %v", err)
	}
	good := strings.Replace(y2, "reload_interval: 100ms", "reload_interval: 100ms\n    min_version: \"1.3\"", 1)
	os.WriteFile(e.file, []byte(good), 0o600)
	if _, err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	c := e.client(func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 })
	if _, _, err := get(t, c, "https://api.test/", nil); err == nil {
		t.Fatal("TLS 1.2 still accepted after reload to min_version 1.3")
	}
	if _, _, err := get(t, e.client(nil), "https://api.test/", nil); err != nil {
		t.Fatal(err)
	}
}

// TestTLSACME: the gateway obtains a certificate from pebble, which
// validates tls-alpn-01 against the gateway's own HTTPS listener.
func TestTLSACME(t *testing.T) {
	port := tlstest.FreePort(t)
	pb := tlstest.StartPebble(t, tlstest.PebbleOptions{HTTPPort: tlstest.FreePort(t), TLSPort: port})
	e := startTLSGatewayAt(t, fmt.Sprintf("127.0.0.1:%d", port),
		fmt.Sprintf("    acme: {hosts: [acme.test], directory_url: %q, ca_file: %q}", pb.DirectoryURL, pb.CAFile))
	c := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pb.Roots(t)},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", e.https)
		},
	}}
	res, body, err := get(t, c, "https://acme.test/issued", nil)
	if err != nil {
		t.Fatalf("https with the ACME certificate: %v", err)
	}
	if res.StatusCode != 200 || res.TLS.PeerCertificates[0].DNSNames[0] != "acme.test" {
		t.Fatalf("%d %v %s", res.StatusCode, res.TLS.PeerCertificates[0].DNSNames, body)
	}
	if !strings.Contains(res.TLS.PeerCertificates[0].Issuer.CommonName, "Pebble") {
		t.Fatalf("issuer %s", res.TLS.PeerCertificates[0].Issuer)
	}
	if _, err := os.Stat(e.Config().DataDir + "/acme/acme.test"); err != nil {
		t.Fatalf("not stored in the data dir: %v", err)
	}
	// Static names keep their certificates.
	if _, _, err := get(t, e.client(nil), "https://api.test/", nil); err != nil {
		t.Fatal(err)
	}
}

// TestTLSACMEHTTP01: with nothing answering tls-alpn-01 (pebble dials a
// closed port for it), the certificate is obtained through http-01, which
// pebble validates against the gateway's HTTP listener — with
// redirect_http on, the challenge path must not be redirected.
func TestTLSACMEHTTP01(t *testing.T) {
	httpPort, httpsPort := tlstest.FreePort(t), tlstest.FreePort(t)
	pb := tlstest.StartPebble(t, tlstest.PebbleOptions{HTTPPort: httpPort, TLSPort: tlstest.FreePort(t)})
	e := startTLSGatewayOn(t, fmt.Sprintf("127.0.0.1:%d", httpPort), fmt.Sprintf("127.0.0.1:%d", httpsPort),
		fmt.Sprintf("    redirect_http: true\n    acme: {hosts: [acme.test], directory_url: %q, ca_file: %q}", pb.DirectoryURL, pb.CAFile))
	c := &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pb.Roots(t)},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", e.https)
		},
	}}
	res, _, err := get(t, c, "https://acme.test/issued", nil)
	if err != nil {
		t.Fatalf("https with the ACME certificate: %v\n%s", err, e.logs.String())
	}
	if res.TLS.PeerCertificates[0].DNSNames[0] != "acme.test" {
		t.Fatalf("%v", res.TLS.PeerCertificates[0].DNSNames)
	}
}

// TestHTTPSTargetFailsClosed: an https:// target is dialed with TLS and
// verified; with a certificate the gateway does not trust (services[].tls
// with a CA bundle is not in the config yet, so system roots apply) the
// request gets 502 and nothing is sent in clear.
func TestHTTPSTargetFailsClosed(t *testing.T) {
	ca := tlstest.NewCA(t, "private CA")
	l := ca.Issue(t, t.TempDir(), "up", tlstest.Options{}, "127.0.0.1")
	pair, _ := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
	be := startBackend(t, "tls")
	be.srv.Shutdown()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hellos atomic.Int64
	go be.srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{pair},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			if h.ServerName == "" { // an IP target: no SNI, as RFC 6066 says
				hellos.Add(1)
			}
			return nil, nil
		}}))
	defer ln.Close()
	be.addr = ln.Addr().String()
	g := startGateway(t, `
services:
  - {name: api, targets: ["https://@B1@"], retries: 0}
routes:
  - {name: api, paths: ["/"], service: api}
`, be)
	r := do(t, "GET", g.url+"/x", nil, nil)
	if r.status != 502 || be.hits.Load() != 0 || hellos.Load() == 0 {
		t.Fatalf("status %d, upstream hits %d, TLS hellos %d", r.status, be.hits.Load(), hellos.Load())
	}
}

// stallConn passes a TLS client's first write (its ClientHello) and drops
// the rest, so the server never gets the client's Finished.
type stallConn struct {
	net.Conn
	writes int
}

func (s *stallConn) Write(p []byte) (int, error) {
	if s.writes++; s.writes > 1 {
		return len(p), nil
	}
	return s.Conn.Write(p)
}

// TestTLSHandshakeUnderReadTimeout: a client that stops half way through
// the handshake is cut off after read_timeout (300ms) from accept, not
// after idle_timeout (5s): the server's handshake messages are not a
// response that would start the wait for a next request.
func TestTLSHandshakeUnderReadTimeout(t *testing.T) {
	e := startTLSGateway(t, "server: {read_timeout: 300ms, idle_timeout: 5s, write_timeout: 1s}")
	raw, err := net.Dial("tcp", e.https)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	start := time.Now()
	tc := tls.Client(&stallConn{Conn: raw}, &tls.Config{RootCAs: e.ca.Pool, ServerName: "api.test", MinVersion: tls.VersionTLS13})
	if err := tc.Handshake(); err != nil { // complete on the client's side
		t.Fatal(err)
	}
	if took := closedAfter(raw, start, 3*time.Second); took > 2*time.Second {
		t.Fatalf("a stalled handshake held the connection %v (read_timeout 300ms)", took)
	}
}

// TestTLSRedirectKeepAlive: a redirect answered on the plain listener is a
// response like any other: the connection then waits for the next request
// under idle_timeout (3s), not under the first request's read_timeout
// (300ms).
func TestTLSRedirectKeepAlive(t *testing.T) {
	e := startTLSGateway(t, "    redirect_http: true\nserver: {read_timeout: 300ms, idle_timeout: 3s, write_timeout: 1s}")
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	for i := range 2 {
		if i == 1 {
			time.Sleep(700 * time.Millisecond)
		}
		if _, err := conn.Write([]byte("GET /a HTTP/1.1\r\nHost: api.test\r\n\r\n")); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on a kept-alive connection: %v", i, err)
		}
		io.Copy(io.Discard, res.Body)
		if res.StatusCode != 308 { // redirect_status_get's default
			t.Fatalf("request %d: %d", i, res.StatusCode)
		}
	}
}
