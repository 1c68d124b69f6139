package upstream

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/proxy/deadline"

	"github.com/edgeguard/edgeguard/tlsconf"
	"github.com/edgeguard/edgeguard/tlsconf/tlstest"
)

// TestHTTPSTarget: an https:// target is dialed with TLS, verified against
// the service's CA bundle, with the gateway's client certificate.
func TestHTTPSTarget(t *testing.T) {
	ca := tlstest.NewCA(t, "upstream CA")
	clientCA := tlstest.NewCA(t, "gateway client CA")
	dir := t.TempDir()
	srvLeaf := ca.Issue(t, dir, "up", tlstest.Options{}, "127.0.0.1")
	gwLeaf := clientCA.Issue(t, dir, "gw", tlstest.Options{Client: true}, "edgeguard")
	pair, err := tls.LoadX509KeyPair(srvLeaf.CertFile, srvLeaf.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
		st := rc.TLSConnectionState()
		if st == nil || len(st.VerifiedChains) == 0 {
			rc.SetStatusCode(495)
			return
		}
		rc.SetBodyString("hello " + st.VerifiedChains[0][0].Subject.CommonName)
	}}
	go srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: clientCA.Pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}))
	defer srv.Shutdown()

	s := Settings{ConnectTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxConns: 4,
		KeepAlive: time.Minute, TLS: tlsconf.UpstreamTLS{CAFile: ca.File, CertFile: gwLeaf.CertFile, KeyFile: gwLeaf.KeyFile}}
	get := func(svc *Service) (string, error) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("/x")
		req.Header.SetHost("127.0.0.1")
		err := svc.Targets[0].Do(req, resp, nil, deadline.Now())
		return string(resp.Body()), err
	}
	r := NewRegistry()
	body, err := get(r.NewService("up", []string{"https://" + ln.Addr().String()}, s))
	if err != nil || body != "hello edgeguard" {
		t.Fatalf("%q %v", body, err)
	}
	// Without the CA bundle (system roots) the upstream is not trusted.
	s2 := s
	s2.TLS.CAFile = ""
	if _, err := get(r.NewService("up2", []string{"https://" + ln.Addr().String()}, s2)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted upstream: %v", err)
	}
	// A missing client certificate file fails closed.
	s3 := s
	s3.TLS.KeyFile = dir + "/missing.key"
	if _, err := get(r.NewService("up3", []string{"https://" + ln.Addr().String()}, s3)); err == nil {
		t.Fatal("dialed without the client certificate")
	}
}
