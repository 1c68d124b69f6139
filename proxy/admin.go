package proxy

import (
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/pprofhandler"

	"github.com/edgeguard/edgeguard/proxy/clientip"
)

// The admin API. Every call is authenticated (bearer token compared in
// constant time, when a token is configured) and restricted to admin.allow,
// except /healthz and /readyz, which carry no information and are meant for
// probes (a kubelet probes from the node's address, which an allow list for
// operators does not hold). Requests a web browser makes on behalf of
// another site are refused (see browserRefusal). Every call is written to
// the audit log.

// AdminHandler lets other parts (blocklist, cluster) add admin endpoints.
type AdminHandler func(rc *fasthttp.RequestCtx, audit *AuditEntry)

var (
	adminRoutesMu sync.RWMutex
	adminRoutes   = map[string]AdminHandler{}
)

// HandleAdmin registers an admin endpoint for "METHOD /path" or, with a
// trailing '/', a path prefix ("DELETE /blocklist/").
func (g *Gateway) HandleAdmin(pattern string, h AdminHandler) {
	adminRoutesMu.Lock()
	defer adminRoutesMu.Unlock()
	adminRoutes[pattern] = h
}

// AuditEntry is one admin call in the audit log.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Remote string    `json:"remote"`
	Who    string    `json:"who"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Status int       `json:"status"`
	Result string    `json:"result"`
	Detail string    `json:"detail,omitempty"`
}

func (g *Gateway) handleAdmin(rc *fasthttp.RequestCtx) {
	cfg := g.Config()
	path := string(rc.Path())
	method := string(rc.Method())
	e := &AuditEntry{Time: time.Now().UTC(), Remote: peerAddr(rc).String(), Who: "anonymous", Method: method, Path: path}
	defer func() {
		e.Status = rc.Response.StatusCode()
		if e.Result == "" {
			if e.Status < 400 {
				e.Result = "ok"
			} else {
				e.Result = "error"
			}
		}
		g.audit.Write(e)
	}()
	rc.Response.Header.SetContentTypeBytes(jsonType)

	if status, msg := checkRequestLine(&rc.Request.Header); status != 0 {
		e.Result = "bad_request"
		adminError(rc, status, msg)
		rc.SetConnectionClose()
		return
	}
	switch path {
	case "/healthz":
		rc.SetBodyString(`{"status":"ok"}`)
		return
	case "/readyz":
		if g.draining.Load() || g.rt.Load() == nil {
			adminError(rc, fasthttp.StatusServiceUnavailable, "draining")
			return
		}
		rc.SetBodyString(`{"status":"ready"}`)
		return
	}
	if !adminAllowed(cfg.Admin.Allow, peerAddr(rc)) {
		e.Result = "denied_network"
		adminError(rc, fasthttp.StatusForbidden, "forbidden")
		return
	}
	if msg := browserRefusal(&rc.Request.Header, cfg.Admin.Token == ""); msg != "" {
		e.Result = "denied_browser"
		e.Detail = msg
		adminError(rc, fasthttp.StatusForbidden, msg)
		return
	}
	if tok := cfg.Admin.Token; tok != "" {
		auth := rc.Request.Header.Peek("Authorization")
		const prefix = "bearer "
		if len(auth) <= len(prefix) || !strings.EqualFold(string(auth[:len(prefix)]), prefix) ||
			subtle.ConstantTimeCompare(auth[len(prefix):], []byte(tok)) != 1 {
			e.Result = "denied_token"
			rc.Response.Header.Set("WWW-Authenticate", `Bearer realm="edgeguard-admin"`)
			adminError(rc, fasthttp.StatusUnauthorized, "unauthorized")
			return
		}
		e.Who = "token"
	} else {
		e.Who = "loopback-no-token"
	}

	switch {
	case path == "/status" && method == "GET":
		g.adminStatus(rc)
	case path == "/reload" && method == "POST":
		restart, err := g.Reload()
		if err != nil {
			e.Detail = err.Error()
			rc.SetStatusCode(fasthttp.StatusUnprocessableEntity)
			body, _ := json.Marshal(map[string]any{"message": "configuration rejected; the previous one keeps serving", "errors": strings.Split(err.Error(), "\n")})
			rc.SetBody(body)
			return
		}
		if len(restart) == 0 {
			rc.SetBodyString(`{"message":"reloaded"}`)
			return
		}
		e.Detail = "restart needed for " + strings.Join(restart, ", ")
		body, _ := json.Marshal(map[string]any{"message": "reloaded; the fields in restart_needed take effect after a restart, their running values are kept", "restart_needed": restart})
		rc.SetBody(body)
	case strings.HasPrefix(path, "/debug/pprof/") && method == "GET":
		// Go's profiler (CPU, heap, goroutines), for finding where time goes
		// under real load; behind the admin token and allow list.
		pprofhandler.PprofHandler(rc)
	case path == "/metrics" && method == "GET":
		rc.Response.Header.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		g.writeMetrics(rc)
	default:
		if h := lookupAdmin(method, path); h != nil {
			h(rc, e)
			return
		}
		if path == "/status" || path == "/reload" || path == "/metrics" {
			adminError(rc, fasthttp.StatusMethodNotAllowed, "method not allowed")
			return
		}
		adminError(rc, fasthttp.StatusNotFound, "not found")
	}
}

// adminErrorHandler answers requests the admin listener could not read
// as the public one does (errorHandler: a JSON body, the connection
// closed), and audits them: every call to the admin API is in the audit
// log, those it could not read too.
func (g *Gateway) adminErrorHandler(rc *fasthttp.RequestCtx, err error) {
	status, _, msg := readError(err)
	rc.Response.Reset()
	adminError(rc, status, msg)
	rc.SetConnectionClose()
	g.audit.Write(&AuditEntry{Time: time.Now().UTC(), Remote: peerAddr(rc).String(), Who: "anonymous",
		Status: status, Result: "bad_request", Detail: msg})
}

func lookupAdmin(method, path string) AdminHandler {
	adminRoutesMu.RLock()
	defer adminRoutesMu.RUnlock()
	if h, ok := adminRoutes[method+" "+path]; ok {
		return h
	}
	for pat, h := range adminRoutes {
		m, p, _ := strings.Cut(pat, " ")
		if m == method && strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) && len(path) > len(p) {
			return h
		}
	}
	return nil
}

// browserRefusal says why a request looks like one a web browser makes on
// behalf of another site, or "". The admin API is for operators' tools; a
// page open in a browser on the gateway's host can still send requests to
// 127.0.0.1 (a form post needs no CORS preflight) or, after rebinding its
// own DNS name to 127.0.0.1, even read the answers. So:
//   - a request with an Origin other than its own Host is refused (browsers
//     send Origin with every cross-origin request but a plain GET, and with
//     every POST), as is one marked cross-site or same-site by the browser
//     itself (Sec-Fetch-Site; typing the URL gives "none");
//   - without a token (allowed on loopback only), the Host must be an IP
//     address or localhost: a rebound DNS name is someone else's page. With
//     a token, a page cannot send it, and any Host will do.
func browserRefusal(h *fasthttp.RequestHeader, noToken bool) string {
	if site := h.Peek("Sec-Fetch-Site"); len(site) > 0 && string(site) != "same-origin" && string(site) != "none" {
		return "cross-site browser request refused"
	}
	if origin := h.Peek("Origin"); len(origin) > 0 {
		_, hostport, ok := strings.Cut(string(origin), "://")
		if !ok || !strings.EqualFold(hostport, string(h.Host())) {
			return "cross-origin request refused"
		}
	}
	if noToken && !localHost(string(h.Host())) {
		return "host not allowed without admin.token (an IP address or localhost)"
	}
	return ""
}

// localHost reports whether host (with an optional port) is an IP address
// or localhost.
func localHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" || strings.EqualFold(host, "localhost") {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

func adminAllowed(allow []string, a netip.Addr) bool {
	if len(allow) == 0 {
		return true
	}
	for _, s := range allow {
		if p, err := clientip.ParsePrefix(s); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

func adminError(rc *fasthttp.RequestCtx, status int, msg string) {
	rc.SetStatusCode(status)
	rc.Response.Header.SetContentTypeBytes(jsonType)
	body, _ := json.Marshal(map[string]string{"message": msg})
	rc.SetBody(body)
}

func (g *Gateway) adminStatus(rc *fasthttp.RequestCtx) {
	rt := g.rt.Load()
	type svc struct {
		Name    string   `json:"name"`
		Targets []string `json:"targets"`
		Ejected []string `json:"ejected"`
	}
	var svcs []svc
	now := time.Now().UnixNano()
	for _, s := range rt.cfg.Services {
		us := rt.services[s.Name]
		v := svc{Name: s.Name, Targets: []string{}, Ejected: []string{}}
		for _, t := range us.Targets {
			v.Targets = append(v.Targets, t.Addr)
			if !t.Healthy(now) {
				v.Ejected = append(v.Ejected, t.Addr)
			}
		}
		svcs = append(svcs, v)
	}
	out := map[string]any{
		"version":            Version,
		"uptime_seconds":     int64(time.Since(g.started).Seconds()),
		"config_file":        rt.cfg.File,
		"config_loaded_at":   rt.loadedAt.UTC().Format(time.RFC3339),
		"routes":             len(rt.cfg.Routes),
		"services":           svcs,
		"plugins":            len(rt.cfg.Plugins),
		"in_flight":          rt.inflight.Load(),
		"draining":           g.draining.Load(),
		"access_log_dropped": g.accessLogDropped(),
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	rc.SetBody(b)
}

func (g *Gateway) accessLogDropped() uint64 {
	if al := g.accessLog.Load(); al != nil {
		return al.Dropped()
	}
	return 0
}

// auditLog writes admin calls as JSON lines, synchronously (admin calls are
// rare and must not be lost).
type auditLog struct {
	mu   sync.Mutex
	out  *os.File
	own  bool
	path string
}

func newAuditLog(path string) (*auditLog, error) {
	a := &auditLog{}
	if err := a.Reopen(path); err != nil {
		return nil, err
	}
	return a, nil
}

// Reopen opens path ("stderr", "stdout" or a file, appended to) and writes
// there from now on: SIGUSR1 reopens the same path after a log rotation, a
// reload a new one. On error the log goes on where it was.
func (a *auditLog) Reopen(path string) error {
	out, own := os.Stderr, false
	switch path {
	case "stderr", "":
	case "stdout":
		out = os.Stdout
	default:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		out, own = f, true
	}
	a.mu.Lock()
	old, oldOwn := a.out, a.own
	a.out, a.own, a.path = out, own, path
	a.mu.Unlock()
	if oldOwn {
		old.Close()
	}
	return nil
}

func (a *auditLog) Write(e *AuditEntry) {
	b, _ := json.Marshal(struct {
		Audit bool `json:"audit"`
		*AuditEntry
	}{true, e})
	b = append(b, '\n')
	a.mu.Lock()
	a.out.Write(b)
	a.mu.Unlock()
}

func (a *auditLog) Close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.own {
		a.out.Close()
	}
}
