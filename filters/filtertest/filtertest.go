// Package filtertest builds filters from YAML snippets and runs requests
// through them without a server, for unit tests and benchmarks of filter
// packages. End-to-end tests go through the real gateway (package proxy).
package filtertest

import (
	"github.com/edgeguard/edgeguard/filters/jwt/jose"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Env returns an Env suitable for tests: no consumers, a discarding logger,
// a fresh metrics set, a temporary data directory.
func Env(tb testing.TB) *filters.Env {
	return &filters.Env{
		Consumers:    map[string]*filters.Consumer{},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:      metrics.NewSet(),
		DataDir:      tb.TempDir(),
		Shared:       filters.NewShared(),
		InstanceName: "test",
	}
}

// Build builds plugin name from the YAML text of its `config:` block. It
// returns the filter, or nil and the config errors as one error.
func Build(env *filters.Env, name, configYAML string) (filters.Filter, error) {
	p, ok := filters.Lookup(name)
	if !ok {
		return nil, &confnode.Error{File: "test.yaml", Msg: "unknown plugin " + name}
	}
	root, errs := confnode.Parse("test.yaml", []byte(configYAML))
	if err := errs.Err(); err != nil {
		return nil, err
	}
	root.Path = "config"
	f, err := p.New(root, env)
	if err != nil {
		root.Errorf("%v", err)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// MustBuild is Build that fails the test on error.
func MustBuild(tb testing.TB, env *filters.Env, name, configYAML string) filters.Filter {
	tb.Helper()
	f, err := Build(env, name, configYAML)
	if err != nil {
		tb.Fatalf("build %s: %v", name, err)
	}
	return f
}

// Request is a prepared request context plus the filter Ctx around it.
// Reuse one Request across benchmark iterations with Reset to avoid
// allocations.
type Request struct {
	RC  fasthttp.RequestCtx
	Ctx filters.Ctx
}

// NewRequest returns a request from client ip (e.g. "203.0.113.7").
func NewRequest(method, uri, ip string) *Request {
	r := &Request{}
	r.RC.Request.Header.SetMethod(method)
	r.RC.Request.SetRequestURI(uri)
	addr := netip.MustParseAddr(ip)
	r.RC.SetRemoteAddr(&net.TCPAddr{IP: addr.AsSlice(), Port: 40000})
	r.Ctx.RC = &r.RC
	r.Ctx.ClientIP = addr
	r.Ctx.RequestID = append(r.Ctx.RequestID[:0], "test-request-id"...)
	r.Ctx.Route, r.Ctx.Service = "test-route", "test-service"
	r.Ctx.CurName = "test"
	r.Ctx.Start = time.Now()
	return r
}

// Reset clears the response and the per-request filter state so the same
// request can be run again.
func (r *Request) Reset() {
	r.RC.Response.Reset()
	ip, id := r.Ctx.ClientIP, r.Ctx.RequestID
	r.Ctx.Reset()
	r.Ctx.RC = &r.RC
	r.Ctx.ClientIP = ip
	r.Ctx.RequestID = id
	r.Ctx.Route, r.Ctx.Service = "test-route", "test-service"
	r.Ctx.CurName = "test"
}

// Run runs f's Access phase (and Response phase when it continued and f
// implements filters.ResponseFilter) and returns the verdict.
func (r *Request) Run(f filters.Filter) filters.Verdict {
	v := f.Access(&r.Ctx)
	if v == filters.Continue {
		if rf, ok := f.(filters.ResponseFilter); ok {
			rf.Response(&r.Ctx)
		}
	}
	return v
}

// JSONClaims is a filters.Claims over a claims JSON document, read with
// jose as the jwt plugin reads verified claims; it also gives the raw
// claim (template.TypedClaims), as the jwt plugin's claims do.
type JSONClaims []byte

// AppendClaim appends the claim at path as text (arrays comma-joined).
func (j JSONClaims) AppendClaim(dst []byte, path string) ([]byte, bool) {
	v, k := jose.Lookup(j, path)
	if k == jose.Invalid || k == jose.Null {
		return dst, false
	}
	return jose.AppendText(dst, v, k), true
}

// ClaimJSON returns the raw JSON of the claim at path and its kind.
func (j JSONClaims) ClaimJSON(path string) ([]byte, jose.Kind) { return jose.Lookup(j, path) }
