// Package proxy is edgeguard's gateway: the fasthttp server, config
// compilation and hot reload, routing, safe request handling (framing
// checks, path normalisation, client IP resolution, request IDs), the
// filter chain, forwarding to upstream pools, metrics, the access log and
// the admin API.
//
// A request moves through: framing check → client IP → request ID → path
// normalisation → route match → the route's filter chain (access phase) →
// upstream → response phase → log phase. Everything a request needs is
// compiled at load into a runtime that is swapped atomically on reload; a
// request keeps the runtime it started with.
package proxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/limiter/cluster"
	"github.com/edgeguard/edgeguard/proxy/accesslog"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
	"github.com/edgeguard/edgeguard/proxy/deadline"
	"github.com/edgeguard/edgeguard/proxy/pathnorm"
	"github.com/edgeguard/edgeguard/proxy/upstream"
)

var randReader = rand.Reader

// Version is set at build time.
var Version = "dev"

// Gateway is a running edgeguard instance.
type Gateway struct {
	log     *slog.Logger
	rt      atomic.Pointer[runtime]
	pools   *upstream.Registry
	shared  *filters.Shared
	metrics *gwMetrics

	accessLog atomic.Pointer[accesslog.Logger]
	audit     *auditLog

	blocklist     *blocklist.List
	stopBlocklist func()
	blocklistDone chan struct{}
	cluster       *cluster.Node

	server   *fasthttp.Server
	admin    *fasthttp.Server
	ln       net.Listener
	adminLn  net.Listener
	tls      *tlsFront // HTTPS listener (tls.go); nil without listen.https
	started  time.Time
	draining atomic.Bool
	reloadMu sync.Mutex
	ready    chan struct{}

	// loader reloads the configuration (from the file it came from).
	loader func() (*config.Config, *confnode.Errors)
}

// Options configure New.
type Options struct {
	Logger *slog.Logger
	// Loader returns the current configuration; it is called at start and
	// on every reload.
	Loader func() (*config.Config, *confnode.Errors)
}

// New loads and compiles the configuration. It returns every config problem
// at once.
func New(opts Options) (*Gateway, error) {
	g := &Gateway{log: opts.Logger, pools: upstream.NewRegistry(), shared: filters.NewShared(),
		metrics: newMetrics(), loader: opts.Loader, started: time.Now(), ready: make(chan struct{})}
	if g.log == nil {
		g.log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	cfg, errs := g.loader()
	if errs != nil && len(errs.List) > 0 {
		return nil, errs.Err()
	}
	a, err := newAuditLog(cfg.Admin.AuditLog)
	if err != nil {
		return nil, fmt.Errorf("cannot open audit log: %w", err)
	}
	g.audit = a
	if err := g.openBlocklist(cfg); err != nil {
		return nil, err
	}
	g.registerBlocklistAdmin()
	if err := g.startCluster(cfg); err != nil {
		g.closeBlocklist()
		return nil, err
	}
	rt, err := g.Compile(cfg)
	if err != nil {
		g.stopCluster()
		g.closeBlocklist()
		return nil, err
	}
	g.rt.Store(rt)
	if err := g.openAccessLog(cfg); err != nil {
		return nil, err
	}
	return g, nil
}

// Compile checks cfg completely (including every plugin's config) and
// builds a runtime without installing it.
func (g *Gateway) Compile(cfg *config.Config) (*runtime, error) {
	errs := cfg.Root.Errs
	if errs == nil {
		errs = &confnode.Errors{}
	}
	g.metrics.kongCompat.Store(cfg.Metrics.KongCompat)
	rt := g.compile(cfg, errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return rt, nil
}

// Check loads the config through loader and compiles it, for `edgeguard
// validate`; nothing is started.
func Check(loader func() (*config.Config, *confnode.Errors)) error {
	g := &Gateway{log: slog.New(slog.NewTextHandler(discard{}, nil)), pools: upstream.NewRegistry(),
		shared: filters.NewShared(), metrics: newMetrics()}
	cfg, errs := loader()
	if cfg != nil && cfg.Cluster != nil {
		// policy: cluster plugins build against an offline stand-in.
		g.shared.Get(cluster.SharedKey, func() any { return cluster.Offline{} })
	}
	if errs != nil && len(errs.List) > 0 {
		if cfg == nil || cfg.Root.Y == nil {
			return errs.Err()
		}
		// Plugin configs are checked too, so every problem is listed at once.
		if rt := g.compile(cfg, errs); rt != nil {
			rt.close()
		}
		return errs.Err()
	}
	rt, err := g.Compile(cfg)
	if rt != nil {
		rt.close()
	}
	return err
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (g *Gateway) openAccessLog(cfg *config.Config) error {
	al, err := g.newAccessLog(cfg)
	if err != nil {
		return err
	}
	g.installAccessLog(al)
	return nil
}

// newAccessLog opens the access log cfg names (nil for "off").
func (g *Gateway) newAccessLog(cfg *config.Config) (*accesslog.Logger, error) {
	if cfg.AccessLog.Path == "off" {
		return nil, nil
	}
	o := cfg.AccessLog.Options()
	o.Dropped = g.metrics.logDropped
	o.ErrorLog = g.log
	al, err := accesslog.NewWithOptions(o)
	if err != nil {
		return nil, fmt.Errorf("access_log.path: cannot open the access log: %w", err)
	}
	return al, nil
}

// installAccessLog makes al the access log and closes the one before.
func (g *Gateway) installAccessLog(al *accesslog.Logger) {
	if old := g.accessLog.Swap(al); old != nil {
		go func() {
			time.Sleep(time.Second) // requests that loaded the old logger submit to it first
			old.Close()
		}()
	}
}

// Config returns the configuration in force.
func (g *Gateway) Config() *config.Config { return g.rt.Load().cfg }

// Reload builds the configuration again and swaps it in atomically. On
// error the old configuration keeps serving and the error lists every
// problem; the logs the new file names are opened first, so one that cannot
// be opened fails the reload too. It returns the settings of the new file
// that take effect only after a restart (restartOnly).
func (g *Gateway) Reload() (restart []string, err error) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	cfg, errs := g.loader()
	if errs != nil && len(errs.List) > 0 {
		g.metrics.reloadsFailed.Inc()
		return nil, errs.Err()
	}
	rt, err := g.Compile(cfg)
	if err != nil {
		g.metrics.reloadsFailed.Inc()
		return nil, err
	}
	old := g.rt.Load()
	var al *accesslog.Logger
	newLog := !reflect.DeepEqual(old.cfg.AccessLog, cfg.AccessLog)
	if newLog {
		if al, err = g.newAccessLog(cfg); err != nil {
			g.metrics.reloadsFailed.Inc()
			go rt.close()
			return nil, err
		}
	}
	if cfg.Admin.AuditLog != old.cfg.Admin.AuditLog {
		if err := g.audit.Reopen(cfg.Admin.AuditLog); err != nil {
			g.metrics.reloadsFailed.Inc()
			if al != nil {
				al.Close()
			}
			go rt.close()
			return nil, fmt.Errorf("admin.audit_log: cannot open the audit log: %w", err)
		}
	}
	g.rt.Store(rt)
	g.reloadTLS(cfg)
	if newLog {
		g.installAccessLog(al)
	}
	old.retired.Store(true)
	if old.inflight.Load() == 0 {
		g.retire(old)
	}
	g.metrics.reloadsOK.Inc()
	restart = restartOnly(old.cfg, cfg)
	if len(restart) > 0 {
		g.log.Warn("configuration reloaded; these settings take effect after a restart, the running values are kept", "fields", restart)
	}
	g.log.Info("configuration reloaded", "file", cfg.File, "routes", len(cfg.Routes))
	return restart, nil
}

// retire closes a replaced runtime's filters once, after its last request.
func (g *Gateway) retire(rt *runtime) {
	if rt.retired.CompareAndSwap(true, false) {
		go rt.close()
	}
}

// ReopenLogs reopens file outputs (SIGUSR1): the access log and the audit
// log, after a rotation moved them.
func (g *Gateway) ReopenLogs() {
	if al := g.accessLog.Load(); al != nil {
		al.Reopen()
	}
	g.audit.mu.Lock()
	path := g.audit.path
	g.audit.mu.Unlock()
	if err := g.audit.Reopen(path); err != nil {
		g.log.Error("audit log not reopened; it goes on where it was", "err", err)
	}
}

// restartOnly returns the fields of cfg that differ from old and that a
// reload cannot change: the listeners' addresses, the limits the server
// reads without synchronisation (changing them on a running server would
// race) and the cluster section. Other server settings (max_body_size,
// headers_with_underscores, shutdown_timeout) are read per request or at
// shutdown and take effect at once.
func restartOnly(old, cfg *config.Config) []string {
	var out []string
	diff := func(field string, changed bool) {
		if changed {
			out = append(out, field)
		}
	}
	o, n := old.Server, cfg.Server
	diff("listen.http", old.Listen.HTTP != cfg.Listen.HTTP)
	diff("listen.https", old.Listen.HTTPS != cfg.Listen.HTTPS)
	diff("admin.listen", old.Admin.Listen != cfg.Admin.Listen)
	diff("server.max_header_size", o.MaxHeaderSize != n.MaxHeaderSize)
	diff("server.read_timeout", o.ReadTimeout != n.ReadTimeout)
	diff("server.write_timeout", o.WriteTimeout != n.WriteTimeout)
	diff("server.idle_timeout", o.IdleTimeout != n.IdleTimeout)
	diff("server.concurrency", o.Concurrency != n.Concurrency)
	diff("server.max_conns_per_ip", o.MaxConnsPerIP != n.MaxConnsPerIP)
	diff("cluster", !reflect.DeepEqual(old.Cluster, cfg.Cluster))
	return out
}

func (g *Gateway) newServer(cfg *config.Config) *fasthttp.Server {
	s := cfg.Server
	return &fasthttp.Server{
		Handler:               g.handle,
		ErrorHandler:          g.errorHandler,
		ContinueHandler:       g.continueHandler,
		HeaderReceived:        g.headerReceived,
		Name:                  "",
		NoDefaultServerHeader: true,
		// server.read_timeout, write_timeout and idle_timeout are kept by
		// the connections themselves (package deadline, see coalesced):
		// the same semantics without fasthttp's per-request deadline calls.
		Concurrency:                  s.Concurrency,
		MaxConnsPerIP:                s.MaxConnsPerIP,
		ReadBufferSize:               int(s.MaxHeaderSize),
		WriteBufferSize:              8192,
		MaxRequestBodySize:           int(s.MaxBodySize),
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		SecureErrorLogMessage:        true,
		NoDefaultContentType:         true,
		DisableKeepalive:             false,
		// The handler takes the request's start time itself, with one
		// clock reading where the server's time.Now makes two (startTime).
		LazyRequestTime: true,
		// DisableHeaderNamesNormalizing stays off: header names are stored
		// in canonical form, which case-insensitive matching relies on
		// (filters.HeaderNames compares bytes; TestStripPathAndIdentityHeaders
		// sends spoofed identity headers in other letter cases).
		// TCP keep-alive is on already: Go's listener enables it (15 s) on
		// every accepted connection; fasthttp's own switch would not see
		// through the deadline wrapper.
		Logger: fasthttpLogger{g.log},
	}
}

// continueHandler decides on `Expect: 100-continue` before the body is
// read: a length over the server's or the route's limit gets 417, as Kong.
func (g *Gateway) continueHandler(h *fasthttp.RequestHeader) bool {
	rt := g.rt.Load()
	cl := int64(h.ContentLength())
	if cl > int64(rt.cfg.Server.MaxBodySize) {
		return false
	}
	path, _ := splitQuery(h.RequestURI())
	var buf [256]byte
	norm, err := pathnorm.Normalize(buf[:0], path)
	if err != nil {
		return true // the handler answers 400
	}
	if r, _, ok := rt.router.Match(h.Host(), norm, h.Method()); ok && r.bodyLimit > 0 && cl > r.bodyLimit {
		return false
	}
	return true
}

// headerReceived runs when a request's head has been read. fasthttp then
// reads up to 8 KiB of the body before the handler runs; for a request
// announcing more than the gateway would take anywhere (and more than
// 8 KiB), that read is cut to one byte, so its 413 is sent at once instead
// of after the client sent 8 KiB (or after read_timeout when it sends
// less). The rest of the body is streamed as usual when the route does
// take it.
func (g *Gateway) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if int64(h.ContentLength()) > g.rt.Load().preReadCut {
		return fasthttp.RequestConfig{MaxRequestBodySize: 1}
	}
	return fasthttp.RequestConfig{}
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...))
}

// readError is the answer to a request fasthttp could not read, for both
// listeners: 431 for a head over the buffer, 413 for a body over the
// server's limit, 408 for a timeout, else 400.
func readError(err error) (status int, reason, msg string) {
	var se *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &se):
		return fasthttp.StatusRequestHeaderFieldsTooLarge, "header_too_large", "Request header fields too large"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge, "body_too_large", "Request size limit exceeded"
	case isTimeout(err):
		return fasthttp.StatusRequestTimeout, "timeout", "Request timeout"
	}
	return fasthttp.StatusBadRequest, "bad_request", "Bad request"
}

// isTimeout reports whether err is a deadline's (net.Error.Timeout).
func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// errorHandler answers requests fasthttp could not read (a malformed or
// too large head, a timeout), with a JSON body and an X-Request-ID like
// every other answer, closes the connection and logs the request like any
// other (without the method, path and headers it never got: the access log
// and the abuse detector see scanners and slow-loris clients too).
func (g *Gateway) errorHandler(rc *fasthttp.RequestCtx, err error) {
	status, reason, msg := readError(err)
	g.metrics.badRequests.Inc()
	rt := g.rt.Load()
	st := statePool.Get().(*reqState)
	c := &st.Ctx
	c.RC = rc
	c.Start, st.start = startTime()
	st.unparsed = true
	st.conn = peerConn(rc)
	st.peer = connPeer(rc, st.conn)
	c.ClientIP = st.peer
	c.RequestID = appendRequestID(c.RequestID[:0])
	g.coreReject(st, status, reason, msg)
	rc.Response.Header.SetCanonical(hdrRequestID, c.RequestID)
	if g.tls != nil && rc.IsTLS() {
		g.tls.state.Load().after(rc) // HSTS, as on every HTTPS response
	}
	rc.SetConnectionClose()
	// The client may still be sending.
	if st.conn != nil {
		st.conn.Linger()
	}
	g.record(rt, st, nil, int64(len(rc.Response.Body())), deadline.Now())
	st.reset()
	statePool.Put(st)
}

// Serve starts the public and admin listeners and blocks until Shutdown.
func (g *Gateway) Serve() error {
	cfg := g.Config()
	ln, err := net.Listen("tcp", cfg.Listen.HTTP)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.Listen.HTTP, err)
	}
	g.ln = ln
	g.server = g.newServer(cfg)
	if cfg.Admin.Listen != "off" {
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("cannot listen on %s (admin): %w", cfg.Admin.Listen, err)
		}
		g.adminLn = aln
		g.admin = &fasthttp.Server{Handler: g.handleAdmin, ErrorHandler: g.adminErrorHandler, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			IdleTimeout: 60 * time.Second, MaxRequestBodySize: 1 << 20, NoDefaultServerHeader: true, CloseOnShutdown: true,
			Logger: fasthttpLogger{g.log}}
		go func() {
			if err := g.admin.Serve(aln); err != nil {
				g.log.Error("admin listener stopped", "err", err)
			}
		}()
	}
	if err := g.startTLS(cfg); err != nil {
		ln.Close()
		return err
	}
	g.log.Info("edgeguard listening", "http", ln.Addr().String(), "admin", cfg.Admin.Listen, "version", Version)
	close(g.ready)
	cl := g.coalesced(ln, cfg)
	cl.WatchHeads = true // plain HTTP: see deadline.Listener
	return g.server.Serve(cl)
}

// coalesced wraps a public listener so that its connections keep the
// server's read, write and idle timeouts themselves, arming deadlines
// lazily within an eighth of the shortest (package deadline).
func (g *Gateway) coalesced(ln net.Listener, cfg *config.Config) deadline.Listener {
	s := cfg.Server
	t := deadline.Timeouts{Read: s.ReadTimeout, Write: s.WriteTimeout, Idle: s.IdleTimeout}
	return deadline.Listener{Listener: ln, Slack: deadline.Slack(t.Read, t.Write, t.Idle), Timeouts: t}
}

// Ready is closed once the listeners are open.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Addr returns the public listener's address once Serve has started.
func (g *Gateway) Addr() net.Addr {
	if g.ln == nil {
		return nil
	}
	return g.ln.Addr()
}

// AdminAddr returns the admin listener's address.
func (g *Gateway) AdminAddr() net.Addr {
	if g.adminLn == nil {
		return nil
	}
	return g.adminLn.Addr()
}

// Shutdown stops accepting connections, lets in-flight requests finish
// within the configured shutdown_timeout, then closes everything.
func (g *Gateway) Shutdown() error {
	g.draining.Store(true)
	timeout := g.Config().Server.ShutdownTimeout
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	if g.server != nil {
		err = g.server.ShutdownWithContext(ctx)
	}
	if terr := g.shutdownTLS(ctx); err == nil {
		err = terr
	}
	if g.admin != nil {
		g.admin.ShutdownWithContext(ctx)
	}
	rt := g.rt.Load()
	rt.close()
	if al := g.accessLog.Load(); al != nil {
		al.Close()
	}
	g.stopCluster()
	g.closeBlocklist()
	g.audit.Close()
	return err
}
