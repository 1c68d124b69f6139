package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/edgeguard/edgeguard/proxy/pathnorm"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/tlsconf"
)

// tlsFront is the gateway's HTTPS side (listen.https + listen.tls): a second
// fasthttp.Server on a TLS listener whose certificates and settings come from
// a tlsconf.Manager, plus the HTTP listener's redirect and ACME challenge
// handling. Both wrap g.handle, so the request path is the same on both
// listeners; the wrappers only add what TLS needs:
//
//   - on every listener the client certificate header is removed from the
//     request (clients can never set it); on HTTPS it is then set to the
//     verified client certificate's subject;
//   - HTTPS responses get Strict-Transport-Security;
//   - the HTTP listener answers ACME http-01 challenges and redirects to
//     HTTPS (redirect_http / force_ssl_redirect).
type tlsFront struct {
	mgr   *tlsconf.Manager
	srv   *fasthttp.Server
	ln    net.Listener
	state atomic.Pointer[tlsState]
}

// tlsState is what the wrappers read per request; rebuilt on reload.
type tlsState struct {
	hsts       []byte
	clientHdr  []byte // X-Client-Cert-Subject
	clientHdrU []byte // X_Client_Cert_Subject (CGI maps both to one variable)
	mtls       bool
	redirect   bool
	force      bool
	statusGet  int
	httpsPort  string
	acme       fasthttp.RequestHandler
}

var (
	hdrHSTS   = []byte("Strict-Transport-Security")
	redirBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
)

// startTLS opens the HTTPS listener when listen.https is set and wraps the
// HTTP server's handler. It is called by Serve once g.server exists.
func (g *Gateway) startTLS(cfg *config.Config) error {
	if cfg.Listen.HTTPS == "" {
		return nil
	}
	mgr, err := tlsconf.New(cfg.Listen.TLS, tlsconf.Options{Logger: g.log, DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen.HTTPS)
	if err != nil {
		mgr.Close()
		return fmt.Errorf("cannot listen on %s (https): %w", cfg.Listen.HTTPS, err)
	}
	f := &tlsFront{mgr: mgr, ln: ln}
	f.state.Store(f.newState(cfg, ln))
	f.srv = g.newServer(cfg)
	f.srv.Handler = g.handleHTTPS
	g.tls = f
	g.server.Handler = g.handleHTTP
	go func() {
		if err := f.srv.Serve(tls.NewListener(g.coalesced(ln, cfg), mgr.Listener())); err != nil {
			g.log.Error("https listener stopped", "err", err)
		}
	}()
	g.log.Info("edgeguard listening", "https", ln.Addr().String())
	return nil
}

func (f *tlsFront) newState(cfg *config.Config, ln net.Listener) *tlsState {
	t := &cfg.Listen.TLS
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	st := &tlsState{
		hsts:      []byte(tlsconf.HSTSValue(t.HSTS)),
		clientHdr: []byte(t.ClientCertHeader),
		mtls:      t.ClientCAFile != "",
		redirect:  t.RedirectHTTP,
		force:     t.ForceSSLRedirect,
		statusGet: t.RedirectStatusGet,
		httpsPort: port,
	}
	u := []byte(t.ClientCertHeader)
	for i, c := range u {
		if c == '-' {
			u[i] = '_'
		}
	}
	st.clientHdrU = u
	if h := f.mgr.ACMEHTTPHandler(http.NotFoundHandler()); h != nil {
		st.acme = fasthttpadaptor.NewFastHTTPHandler(h)
	}
	return st
}

// reloadTLS applies a reloaded config's TLS section (certificates are read
// again, so SIGHUP also reloads them). Called by Reload after the swap; the
// config was already checked, so an error here means a file changed in
// between: the old TLS settings keep serving.
func (g *Gateway) reloadTLS(cfg *config.Config) {
	f := g.tls
	if f == nil {
		if cfg.Listen.HTTPS != "" {
			g.log.Warn("listen.https was added: it takes effect after a restart")
		}
		return
	}
	if cfg.Listen.HTTPS == "" {
		g.log.Warn("listen.https was removed: it takes effect after a restart")
		return
	}
	if err := f.mgr.Update(cfg.Listen.TLS); err != nil {
		g.log.Error("tls settings not reloaded, the previous ones keep serving", "err", err)
		return
	}
	f.state.Store(f.newState(cfg, f.ln))
	// server.*_timeout changes are not applied to the HTTPS server: fasthttp
	// reads those fields without synchronisation (the race detector flags
	// writing them while serving), so they take effect after a restart.
}

// shutdownTLS stops the HTTPS listener (draining like the HTTP one) and
// the certificate watcher.
func (g *Gateway) shutdownTLS(ctx context.Context) error {
	f := g.tls
	if f == nil {
		return nil
	}
	err := f.srv.ShutdownWithContext(ctx)
	f.mgr.Close()
	return err
}

// HTTPSAddr returns the HTTPS listener's address, or nil.
func (g *Gateway) HTTPSAddr() net.Addr {
	if g.tls == nil {
		return nil
	}
	return g.tls.ln.Addr()
}

// TLSManager returns the certificate manager, or nil without HTTPS.
func (g *Gateway) TLSManager() *tlsconf.Manager {
	if g.tls == nil {
		return nil
	}
	return g.tls.mgr
}

// handleHTTPS wraps g.handle for the HTTPS listener.
func (g *Gateway) handleHTTPS(rc *fasthttp.RequestCtx) {
	st := g.tls.state.Load()
	st.before(rc)
	g.handle(rc)
	st.after(rc)
}

// before removes client copies of the client certificate header, sets it
// from the verified certificate. (The URI's https scheme does not matter:
// upstream.Target.Do does not compare it with the target's, as
// HostClient.Do would.)
func (st *tlsState) before(rc *fasthttp.RequestCtx) {
	h := &rc.Request.Header
	h.DelBytes(st.clientHdr)
	h.DelBytes(st.clientHdrU)
	if st.mtls {
		setClientCert(rc, st)
	}
}

// after adds Strict-Transport-Security to the response.
func (st *tlsState) after(rc *fasthttp.RequestCtx) {
	if len(st.hsts) > 0 {
		rc.Response.Header.SetBytesKV(hdrHSTS, st.hsts)
	}
}

// setClientCert sets the configured header to the verified client
// certificate's subject. Only listeners with client certificates configured
// pay for this (a ConnectionState copy and the subject string).
func setClientCert(rc *fasthttp.RequestCtx, st *tlsState) {
	if cs := rc.TLSConnectionState(); cs != nil {
		if s := tlsconf.ClientSubject(cs); s != "" {
			rc.Request.Header.SetBytesKV(st.clientHdr, []byte(s))
		}
	}
}

// forwardClientCert sets the client certificate header again after the
// handler has removed gateway-only headers (X-Client-Cert-Subject is one of
// them, handler.go). The handler calls it right after rewriteRequest; it
// does nothing without HTTPS or client certificates.
func (g *Gateway) forwardClientCert(rc *fasthttp.RequestCtx) {
	if g.tls == nil || !rc.IsTLS() {
		return
	}
	if st := g.tls.state.Load(); st.mtls {
		setClientCert(rc, st)
	}
}

// handleHTTP wraps g.handle for the HTTP listener when HTTPS is on.
func (g *Gateway) handleHTTP(rc *fasthttp.RequestCtx) {
	st := g.tls.state.Load()
	h := &rc.Request.Header
	h.DelBytes(st.clientHdr)
	h.DelBytes(st.clientHdrU)
	// The host the request is routed by (an absolute-form target's
	// authority replaces Host, RFC 9112 §3.2.2) decides the redirect too,
	// and is where it points; an invalid one is answered 400 by g.handle.
	checkHost(h)
	if tlsconf.IsACMEChallenge(h.RequestURI()) {
		if st.acme != nil {
			st.acme(rc)
			startWrite(rc)
			return
		}
		// An upstream may answer its own challenges, but only a path
		// that is one once normalised: "/.well-known/acme-challenge/../../v1"
		// would otherwise reach /v1 over plain HTTP, past the redirect.
		if acmeChallengePath(h.RequestURI()) {
			g.handle(rc)
			return
		}
	}
	if st.force || (st.redirect && g.tls.mgr.HasCertificate(hostNoPort(h.Host()))) {
		bp := redirBufs.Get().(*[]byte)
		*bp = tlsconf.Redirect(rc, st.httpsPort, st.statusGet, *bp)
		redirBufs.Put(bp)
		startWrite(rc)
		return
	}
	g.handle(rc)
}

// acmeChallengePath reports whether uri's normalised path is under the
// ACME challenge prefix.
func acmeChallengePath(uri []byte) bool {
	path, _ := splitQuery(uri)
	var buf [256]byte
	norm, err := pathnorm.Normalize(buf[:0], path)
	return err == nil && tlsconf.IsACMEChallenge(norm)
}

func hostNoPort(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		for i, c := range h {
			if c == ']' {
				return h[1:i]
			}
		}
		return h
	}
	for i, c := range h {
		if c == ':' {
			return h[:i]
		}
	}
	return h
}
