package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/tlsconf"
)

// TestTLSWrapperAllocs: what the HTTPS listener adds around g.handle
// (header removal, scheme, HSTS) and the HTTP→HTTPS redirect allocate
// nothing.
func TestTLSWrapperAllocs(t *testing.T) {
	st := &tlsState{hsts: []byte(tlsconf.HSTSValue(tlsconf.HSTS{})), clientHdr: []byte("X-Client-Cert-Subject"),
		clientHdrU: []byte("X_Client_Cert_Subject"), force: true, statusGet: 308, httpsPort: "8443"}
	var rc fasthttp.RequestCtx
	var tmpl fasthttp.Request
	tmpl.Header.SetMethod("GET")
	tmpl.SetRequestURI("/v1/orders?id=7")
	tmpl.Header.SetHost("api.example.com")
	tmpl.Header.Set("X-Client-Cert-Subject", "CN=spoof")
	run := func() {
		tmpl.CopyTo(&rc.Request)
		rc.Response.Reset()
		st.before(&rc)
		st.after(&rc)
	}
	run()
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("https wrapper allocates %v times per request", n)
	}
	if len(rc.Request.Header.Peek("X-Client-Cert-Subject")) != 0 || len(rc.Response.Header.Peek("Strict-Transport-Security")) == 0 {
		t.Fatal("wrapper did not strip or add")
	}
	f := &tlsFront{}
	f.state.Store(st)
	g := &Gateway{tls: f}
	redirect := func() {
		tmpl.CopyTo(&rc.Request)
		rc.Response.Reset()
		g.handleHTTP(&rc)
	}
	redirect()
	if n := testing.AllocsPerRun(200, redirect); n != 0 {
		t.Fatalf("redirect allocates %v times per request", n)
	}
	if string(rc.Response.Header.Peek("Location")) != "https://api.example.com:8443/v1/orders?id=7" {
		t.Fatalf("Location %q", rc.Response.Header.Peek("Location"))
	}
}

// BenchmarkHTTPSKeepAlive: requests through the gateway's HTTPS listener
// to a loopback upstream on kept-alive TLS connections (client, gateway
// and upstream share the machine).
func BenchmarkHTTPSKeepAlive(b *testing.B) {
	e := startTLSGateway(b, "")
	c := &fasthttp.HostClient{Addr: e.https, IsTLS: true, MaxConns: 64,
		TLSConfig: &tls.Config{RootCAs: e.ca.Pool, ServerName: "api.test"},
		Dial:      func(a string) (net.Conn, error) { return (&net.Dialer{}).DialContext(context.Background(), "tcp", a) }}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("https://api.test/bench")
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("%v %d", err, resp.StatusCode())
				return
			}
		}
	})
}

// BenchmarkHTTPKeepAlive is the same request on the plain listener, for
// the cost of TLS on kept-alive connections.
func BenchmarkHTTPKeepAlive(b *testing.B) {
	e := startTLSGateway(b, "")
	c := &fasthttp.HostClient{Addr: e.Addr().String(), MaxConns: 64}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://api.test/bench")
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("%v %d", err, resp.StatusCode())
				return
			}
		}
	})
}
