package proxy

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/proxy/clientip"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
	"github.com/edgeguard/edgeguard/proxy/router"
	"github.com/edgeguard/edgeguard/proxy/upstream"
)

// runtime is one compiled configuration: everything the request path needs,
// built completely before it is swapped in, immutable afterwards.
type runtime struct {
	cfg      *config.Config
	router   *router.Router[*route]
	resolver *clientip.Resolver
	services map[string]*upstream.Service
	loadedAt time.Time
	closers  []io.Closer
	abuse    *blocklist.Detector
	// inflight counts requests using this runtime, so closers run only
	// after the last one finished.
	inflight atomic.Int64
	retired  atomic.Bool
	// preReadCut is the smallest body limit of the server and any route,
	// but at least fasthttp's pre-read (8 KiB): a request announcing more
	// gets its body's pre-read cut to one byte (headerReceived), so its 413
	// does not wait for the body. A smaller body is read whole before the
	// handler as before, and goes upstream with the head in one write.
	preReadCut int64
}

// link is one filter of a compiled chain.
type link struct {
	name string // plugin instance name
	kind string // plugin name
	f    filters.Filter
	resp filters.ResponseFilter
	log  filters.LogFilter
}

// route is a compiled route.
type route struct {
	name         string
	service      *upstream.Service
	chain        []link
	hasResp      bool
	hasLog       bool
	stripPath    bool
	preserveHost bool
	prefixes     []string
	metrics      *routeMetrics
	// bodyLimit is the smallest limit of the chain's body limiters (0: none).
	bodyLimit int64
}

// compile builds a runtime from cfg. Problems (including every plugin's
// config errors) are added to errs; the runtime is nil when there are any.
func (g *Gateway) compile(cfg *config.Config, errs *confnode.Errors) *runtime {
	rt := &runtime{cfg: cfg, services: map[string]*upstream.Service{}, loadedAt: time.Now(), preReadCut: int64(cfg.Server.MaxBodySize)}
	root := cfg.Root
	root.Errs = errs

	res, err := clientip.New(cfg.TrustedProxies, cfg.RealIPHeader)
	if err != nil && !errs.Has("trusted_proxies") { // else reported by config
		root.FieldErrorf("trusted_proxies", "%v", err)
	}
	rt.resolver = res
	if g.blocklist != nil {
		d, err := g.newDetector(cfg)
		if err != nil {
			root.FieldErrorf("abuse", "%v", err)
		}
		rt.abuse = d
	}

	for _, s := range cfg.Services {
		addrs := make([]string, 0, len(s.Targets))
		for _, t := range s.Targets {
			pt, err := config.ParseTarget(t)
			if err != nil {
				continue // reported by config
			}
			addrs = append(addrs, pt.Addr)
		}
		svc := g.pools.NewService(s.Name, addrs, upstream.Settings{
			ConnectTimeout: s.ConnectTimeout, ReadTimeout: s.ReadTimeout, WriteTimeout: s.WriteTimeout,
			MaxConns: s.MaxConns, KeepAlive: s.KeepAlive, Retries: *s.Retries,
			Failures: s.Healthchecks.Passive.Failures, Ejection: s.Healthchecks.Passive.Ejection,
			TLS: s.TLS, BufferResponses: s.ResponseBuffering, MaxResponseSize: int(s.MaxResponseSize),
		})
		svc.OnEject = g.metrics.onEject(s.Name)
		rt.services[s.Name] = svc
	}

	// Consumers.
	consumers := map[string]*filters.Consumer{}
	for _, c := range cfg.Consumers {
		consumers[c.Username] = &filters.Consumer{ID: c.Username, Username: c.Username, CustomID: c.CustomID, Tier: c.Tier, JWTSecrets: c.JWTSecrets}
	}

	// Plugin instances, each built once and shared by the routes naming it.
	built := map[string]link{}
	for _, p := range cfg.Plugins {
		plug, ok := filters.Lookup(p.Plugin)
		if !ok {
			continue // reported by config
		}
		env := &filters.Env{Consumers: consumers, Logger: g.log.With("plugin", p.Name), Metrics: g.metrics.set,
			DataDir: cfg.DataDir, Shared: g.shared, InstanceName: p.Name}
		node := p.Node
		node.Errs = errs
		before := len(errs.List)
		f, err := safeNew(plug, node, env)
		if err != nil {
			node.Errorf("%s: %v", p.Plugin, err)
		}
		if f == nil {
			if len(errs.List) == before {
				node.Errorf("%s: plugin returned no filter", p.Plugin)
			}
			continue
		}
		l := link{name: p.Name, kind: p.Plugin, f: f}
		l.resp, _ = f.(filters.ResponseFilter)
		l.log, _ = f.(filters.LogFilter)
		if c, ok := f.(io.Closer); ok {
			rt.closers = append(rt.closers, c)
		}
		built[p.Name] = l
	}

	specs := make([]router.Spec[*route], 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		// Longest first: strip_path removes the prefix the router matched,
		// which is the longest of the route's that matches.
		prefixes := slices.Clone(r.Paths)
		slices.SortStableFunc(prefixes, func(a, b string) int { return len(b) - len(a) })
		cr := &route{name: r.Name, service: rt.services[r.Service], stripPath: r.StripPath, preserveHost: r.PreserveHost, prefixes: prefixes}
		kinds := map[string]int{}
		add := func(name string, override bool) {
			l, ok := built[name]
			if !ok {
				return
			}
			if i, dup := kinds[l.kind]; dup {
				if override {
					cr.chain[i] = l // a route's own instance replaces the global one
				}
				return
			}
			kinds[l.kind] = len(cr.chain)
			cr.chain = append(cr.chain, l)
		}
		for _, n := range r.Plugins {
			add(n, true)
		}
		for _, n := range cfg.GlobalPlugins {
			add(n, false)
		}
		sort.SliceStable(cr.chain, func(a, b int) bool {
			return filters.OrderOf(cr.chain[a].kind) < filters.OrderOf(cr.chain[b].kind)
		})
		for _, l := range cr.chain {
			if bl, ok := l.f.(interface{ Limit() int64 }); ok {
				if lim := bl.Limit(); lim > 0 && (cr.bodyLimit == 0 || lim < cr.bodyLimit) {
					cr.bodyLimit = lim
				}
			}
			if cr.bodyLimit > 0 && cr.bodyLimit < rt.preReadCut {
				rt.preReadCut = max(cr.bodyLimit, preRead)
			}
			cr.hasResp = cr.hasResp || l.resp != nil
			cr.hasLog = cr.hasLog || l.log != nil
		}
		cr.metrics = g.metrics.route(r.Name, r.Service)
		specs = append(specs, router.Spec[*route]{Name: r.Name, Hosts: r.Hosts, Paths: r.Paths, Methods: r.Methods, Value: cr})
	}
	rtr, probs := router.Compile(specs)
	rn := root.Field("routes")
	for _, p := range probs {
		n := rn.Index(p.Route)
		field, idx := p.Field, -1
		if _, err := fmt.Sscanf(p.Field, "hosts[%d]", &idx); err == nil {
			n.Field("hosts").Index(idx).Errorf("%s", p.Msg)
		} else if _, err := fmt.Sscanf(p.Field, "paths[%d]", &idx); err == nil {
			n.Field("paths").Index(idx).Errorf("%s", p.Msg)
		} else if _, err := fmt.Sscanf(p.Field, "methods[%d]", &idx); err == nil {
			n.Field("methods").Index(idx).Errorf("%s", p.Msg)
		} else {
			n.FieldErrorf(field, "%s", p.Msg)
		}
	}
	rt.router = rtr
	if len(errs.List) > 0 {
		rt.close()
		return nil
	}
	return rt
}

// preRead is how much of a body of known length fasthttp's server reads
// before the handler runs (readBodyWithStreaming).
const preRead = 8 << 10

// safeNew calls a plugin constructor, turning a panic into an error so a bad
// plugin config can never take the gateway down during a reload.
func safeNew(p *filters.Plugin, n confnode.Node, env *filters.Env) (f filters.Filter, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("internal error while building plugin: %v", r)
		}
	}()
	return p.New(n, env)
}

// close releases the runtime's filters (goroutines, files).
func (rt *runtime) close() {
	for _, c := range rt.closers {
		c.Close()
	}
}
