// Package config loads edgeguard's YAML configuration: Kong's object model
// (services, routes, plugins, consumers) plus the gateway's own settings
// (listeners, admin API, trusted proxies, server limits, access log).
//
// Load parses and checks a file completely: unknown and duplicate keys,
// dangling references, bad durations, CIDRs, sizes, addresses and header
// names are all reported, each with file, line, column and field path. A
// file holds one YAML document. Plugin configs are checked when the
// gateway compiles the config (package proxy), so `edgeguard validate` runs
// both steps. A Config is immutable once loaded.
package config

import (
	"errors"
	"fmt"
	"golang.org/x/net/http/httpguts"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/limiter/cluster"
	"github.com/edgeguard/edgeguard/proxy/accesslog"
	"github.com/edgeguard/edgeguard/proxy/clientip"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
	"github.com/edgeguard/edgeguard/tlsconf"
)

// Config is a whole configuration file.
type Config struct {
	Listen         Listen                   `yaml:"listen"`
	Admin          Admin                    `yaml:"admin"`
	TrustedProxies []string                 `yaml:"trusted_proxies"`
	RealIPHeader   string                   `yaml:"real_ip_header"` // an HTTP field name (RFC 9110 token)
	Server         Server                   `yaml:"server"`
	Services       []Service                `yaml:"services"`
	Routes         []Route                  `yaml:"routes"`
	Plugins        []Plugin                 `yaml:"plugins"`
	GlobalPlugins  []string                 `yaml:"global_plugins"`
	Consumers      []filters.ConsumerConfig `yaml:"consumers"`
	AccessLog      AccessLog                `yaml:"access_log"`
	Metrics        Metrics                  `yaml:"metrics"`
	DataDir        string                   `yaml:"data_dir"`
	Blocklist      Blocklist                `yaml:"blocklist"`
	Abuse          blocklist.AbuseConfig    `yaml:"abuse"`
	// Cluster joins this gateway to others (gossip): shared rate limits
	// (`policy: cluster`) and blocklist. Changes need a restart.
	Cluster *cluster.Config `yaml:"cluster"`

	// File is the path the config was loaded from; Root its parsed tree.
	File string        `yaml:"-"`
	Root confnode.Node `yaml:"-"`
}

// Listen holds the public listeners.
type Listen struct {
	// HTTP is the plain HTTP listen address, e.g. "127.0.0.1:8080" or
	// ":8080" (any address). Listen addresses take an IP literal (IPv6 in
	// brackets) or a host name and a port 0-65535 (0: any free port); two
	// listeners (admin.listen too) may not share a host and port.
	HTTP string `yaml:"http"`
	// HTTPS is the TLS listen address, e.g. "0.0.0.0:443" (default: none).
	HTTPS string `yaml:"https"`
	// TLS configures the HTTPS listener: certificates (SNI, hot reload),
	// protocol settings, HSTS, the HTTP→HTTPS redirect, ACME and client
	// certificates. See tlsconf/README.md.
	TLS tlsconf.Config `yaml:"tls"`
}

// Admin configures the admin API.
type Admin struct {
	// Listen is the admin address (default 127.0.0.1:8001); "off" disables it.
	Listen string `yaml:"listen"`
	// Token is the bearer token admin calls must present. Required when
	// Listen is not a loopback address.
	Token string `yaml:"token"`
	// Allow lists the networks admin calls may come from (default: any).
	Allow []string `yaml:"allow"`
	// AuditLog is where admin calls are recorded: "stderr" (default),
	// "stdout" or a file path.
	AuditLog string `yaml:"audit_log"`
}

// Server holds limits of the public listeners.
type Server struct {
	// MaxHeaderSize bounds the request line plus headers (default 16k).
	MaxHeaderSize confnode.Size `yaml:"max_header_size"`
	// MaxBodySize bounds request bodies (default 128m, as Kong's default).
	// Bodies are streamed; this is the hard cap, request-size-limiting sets
	// per-route limits.
	MaxBodySize confnode.Size `yaml:"max_body_size"`
	// ReadTimeout bounds reading one request, headers and body, from its
	// first byte (default 10s): a slow-loris client is cut off after it.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one response (default 60s).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout bounds keep-alive idle time between requests (default 60s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout is how long in-flight requests may drain on SIGTERM
	// (default 30s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Concurrency caps simultaneous connections (default 256k).
	Concurrency int `yaml:"concurrency"`
	// MaxConnsPerIP caps connections per client IP (0 = unlimited).
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// HeadersWithUnderscores is what becomes of a request header whose name
	// has an underscore: "drop" (default, as nginx's underscores_in_headers
	// off), "allow" or "reject" (400). CGI, WSGI, PHP and Rack backends read
	// X_User_ID as X-User-ID.
	HeadersWithUnderscores string `yaml:"headers_with_underscores"`
}

// Service is a named upstream.
type Service struct {
	Name string `yaml:"name"`
	// Targets are "host:port" (or "http://host:port", "https://host:port")
	// addresses, used round robin: an IP literal (IPv6 in brackets) or a DNS
	// name, and a port 1-65535.
	Targets        []string      `yaml:"targets"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"` // default 5s
	ReadTimeout    time.Duration `yaml:"read_timeout"`    // default 60s
	WriteTimeout   time.Duration `yaml:"write_timeout"`   // default 60s
	// Retries is how many other targets are tried when a connection cannot
	// be established (default 1). A request that reached a target is never
	// retried.
	Retries *int `yaml:"retries"`
	// MaxConns bounds connections per target (default 1024).
	MaxConns int `yaml:"max_conns"`
	// KeepAlive is how long idle upstream connections are kept (default 60s).
	KeepAlive time.Duration `yaml:"keepalive"`
	// Healthchecks configures passive health checking.
	Healthchecks Healthchecks `yaml:"healthchecks"`
	// TLS configures https:// targets: CA bundle, client certificate,
	// server name (default: system roots, the target's host).
	TLS tlsconf.UpstreamTLS `yaml:"tls"`
	// ResponseBuffering reads each upstream response whole before sending
	// it (default false: a response of known length up to 16 KiB is read
	// whole anyway, anything else is streamed; see upstream.Target.Do). A
	// response over MaxResponseSize then fails with 502, so leave it off
	// for services that serve large downloads.
	ResponseBuffering bool `yaml:"response_buffering"`
	// MaxResponseSize bounds buffered responses (default 16m).
	MaxResponseSize confnode.Size `yaml:"max_response_size"`
}

// Healthchecks configures passive ejection of failing targets.
type Healthchecks struct {
	Passive Passive `yaml:"passive"`
}

// Passive: a target with Failures consecutive connection errors or timeouts
// is ejected for Ejection, while other targets serve.
type Passive struct {
	Failures int           `yaml:"failures"` // default 3; negative disables ejection; 0 is an error (it would mean the default)
	Ejection time.Duration `yaml:"ejection"` // default 10s; 0 means the default
}

// Route maps hosts and path prefixes to a service and a plugin chain.
type Route struct {
	Name string `yaml:"name"`
	// Hosts are exact names or "*.example.com" (default: any host; an empty
	// name is an error, not "any").
	Hosts   []string `yaml:"hosts"`
	Paths   []string `yaml:"paths"`
	Methods []string `yaml:"methods"`
	Service string   `yaml:"service"`
	Plugins []string `yaml:"plugins"`
	// StripPath removes the matched prefix before forwarding (default
	// false, as Kong's ingress controller).
	StripPath bool `yaml:"strip_path"`
	// PreserveHost forwards the client's Host header instead of the target's
	// (default false, as Kong).
	PreserveHost bool `yaml:"preserve_host"`
}

// Plugin is a named plugin instance.
type Plugin struct {
	Name   string    `yaml:"name"`
	Plugin string    `yaml:"plugin"`
	Config yaml.Node `yaml:"config"`
	// Node is the config node with its place, for error reporting.
	Node confnode.Node `yaml:"-"`
}

// AccessLog configures the JSON access log.
type AccessLog struct {
	// Path is "stdout" (default), "stderr", "off" or a file path (reopened on SIGUSR1).
	Path string `yaml:"path"`
	// Buffer is the number of entries queued before lines are dropped
	// (default 8192); the request path never waits for the writer.
	Buffer int `yaml:"buffer"`
	// Headers are request headers added to each line (by name).
	Headers []string `yaml:"headers"`
	// RedactHeaders are logged as "REDACTED" (Authorization and Cookie
	// always are).
	RedactHeaders []string `yaml:"redact_headers"`
	// CustomFields are templates such as `user_id: $(jwt.sub)` (Kong's
	// custom_fields_by_lua without Lua).
	CustomFields map[string]string `yaml:"custom_fields"`
}

// Options converts the config to the access logger's options.
func (a AccessLog) Options() accesslog.Options {
	return accesslog.Options{Path: a.Path, Buffer: a.Buffer, Headers: a.Headers, RedactHeaders: a.RedactHeaders, CustomFields: a.CustomFields}
}

// Blocklist configures the dynamic IP blocklist (admin API /blocklist),
// which applies to every route before routing and is persisted in data_dir.
type Blocklist struct {
	// MaxEntries caps the number of blocked prefixes (default 100000).
	MaxEntries int `yaml:"max_entries"`
}

// Metrics configures /metrics.
type Metrics struct {
	// KongCompat also exports Kong's metric names.
	KongCompat bool `yaml:"kong_compat"`
}

// Load reads, parses and checks file. The returned errors are all problems
// found (nil when none). Plugin configs are only checked for their shape
// here; package proxy checks their contents.
func Load(file string) (*Config, *confnode.Errors) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &confnode.Errors{List: []*confnode.Error{{File: file, Msg: err.Error()}}}
	}
	return Parse(file, data)
}

// Parse is Load for data already read.
func Parse(file string, data []byte) (*Config, *confnode.Errors) {
	root, errs := confnode.Parse(file, data)
	cfg := &Config{File: file, Root: root}
	if len(errs.List) > 0 {
		return cfg, errs
	}
	// A value that failed to decode is left zero, so defaults and the
	// checks still run (every problem of the file is listed at once, and
	// the config has the shape later stages rely on); the checks' errors at
	// a field that already failed to decode are dropped as repeats.
	decoded := len(errs.List)
	root.Decode(cfg)
	failed := errs.List[decoded:len(errs.List):len(errs.List)]
	cfg.defaults()
	checked := len(errs.List)
	cfg.check(root)
	errs.List = append(errs.List[:checked], dropRepeats(errs.List[checked:], failed)...)
	if len(errs.List) == 0 {
		return cfg, nil
	}
	errs.Err()
	return cfg, errs
}

// dropRepeats returns the errors of list that are not at or under the
// field of an error in failed.
func dropRepeats(list, failed []*confnode.Error) []*confnode.Error {
	out := list[:0]
	for _, e := range list {
		if !e.Repeats(failed) {
			out = append(out, e)
		}
	}
	return out
}

func (c *Config) defaults() {
	if c.Listen.HTTP == "" {
		c.Listen.HTTP = "127.0.0.1:8080"
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = "127.0.0.1:8001"
	}
	if c.Admin.AuditLog == "" {
		c.Admin.AuditLog = "stderr"
	}
	s := &c.Server
	if s.MaxHeaderSize == 0 {
		s.MaxHeaderSize = 16 << 10
	}
	if s.HeadersWithUnderscores == "" {
		s.HeadersWithUnderscores = "drop"
	}
	if s.MaxBodySize == 0 {
		s.MaxBodySize = 128 << 20
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = 10 * time.Second
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = 60 * time.Second
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = 60 * time.Second
	}
	if s.ShutdownTimeout == 0 {
		s.ShutdownTimeout = 30 * time.Second
	}
	if s.Concurrency == 0 {
		s.Concurrency = 256 * 1024
	}
	for i := range c.Services {
		sv := &c.Services[i]
		if sv.ConnectTimeout == 0 {
			sv.ConnectTimeout = 5 * time.Second
		}
		if sv.ReadTimeout == 0 {
			sv.ReadTimeout = 60 * time.Second
		}
		if sv.WriteTimeout == 0 {
			sv.WriteTimeout = 60 * time.Second
		}
		if sv.Retries == nil {
			one := 1
			sv.Retries = &one
		}
		if sv.MaxConns == 0 {
			sv.MaxConns = 1024
		}
		if sv.KeepAlive == 0 {
			sv.KeepAlive = 60 * time.Second
		}
		if sv.MaxResponseSize == 0 {
			sv.MaxResponseSize = 16 << 20
		}
		if sv.Healthchecks.Passive.Failures == 0 {
			sv.Healthchecks.Passive.Failures = 3
		}
		if sv.Healthchecks.Passive.Ejection == 0 {
			sv.Healthchecks.Passive.Ejection = 10 * time.Second
		}
	}
	if c.AccessLog.Path == "" {
		c.AccessLog.Path = "stdout"
	}
	if c.AccessLog.Buffer == 0 {
		c.AccessLog.Buffer = 8192
	}
	if c.DataDir == "" {
		c.DataDir = "./edgeguard-data"
	}
}

// check validates references and values, recording errors at their place.
func (c *Config) check(root confnode.Node) {
	checkAddr(root.Field("listen").Field("http"), c.Listen.HTTP, false)
	checkAddr(root.Field("listen").Field("https"), c.Listen.HTTPS, true)
	tlsconf.Check(root.Field("listen").Field("tls"), &c.Listen.TLS, c.Listen.HTTPS != "")
	admin := root.Field("admin")
	if c.Admin.Listen != "off" {
		checkAddr(admin.Field("listen"), c.Admin.Listen, false)
		if c.Admin.Token == "" && !isLoopback(c.Admin.Listen) {
			admin.FieldErrorf("token", "the admin API listens on a non-loopback address (%s) and needs a token", c.Admin.Listen)
		}
		if c.Admin.Token != "" && len(c.Admin.Token) < 16 {
			admin.FieldErrorf("token", "must be at least 16 characters")
		}
	}
	checkCIDRs(admin.Field("allow"), c.Admin.Allow)
	ls := []listener{{field: "listen.http", n: root.Field("listen").Field("http"), addr: c.Listen.HTTP}}
	if c.Listen.HTTPS != "" {
		ls = append(ls, listener{field: "listen.https", n: root.Field("listen").Field("https"), addr: c.Listen.HTTPS})
	}
	if c.Admin.Listen != "off" {
		ls = append(ls, listener{field: "admin.listen", n: admin.Field("listen"), addr: c.Admin.Listen})
	}
	for i := range ls {
		ls[i].dflt = !ls[i].n.Present()
	}
	checkListenConflicts(ls)
	checkCIDRs(root.Field("trusted_proxies"), c.TrustedProxies)
	if c.RealIPHeader != "" && !validHeaderName(c.RealIPHeader) {
		root.FieldErrorf("real_ip_header", "invalid header name %q", c.RealIPHeader)
	}

	s := root.Field("server")
	positive := func(name string, d time.Duration) {
		if d < 0 {
			s.FieldErrorf(name, "must be positive")
		}
	}
	switch c.Server.HeadersWithUnderscores {
	case "drop", "allow", "reject":
	default:
		s.FieldErrorf("headers_with_underscores", "must be drop, allow or reject (got %q)", c.Server.HeadersWithUnderscores)
	}
	positive("read_timeout", c.Server.ReadTimeout)
	positive("write_timeout", c.Server.WriteTimeout)
	positive("idle_timeout", c.Server.IdleTimeout)
	positive("shutdown_timeout", c.Server.ShutdownTimeout)
	if c.Server.MaxHeaderSize < 1024 || c.Server.MaxHeaderSize > 1<<20 {
		s.FieldErrorf("max_header_size", "must be between 1k and 1m")
	}
	if c.Server.Concurrency < 0 {
		s.FieldErrorf("concurrency", "must be positive")
	}

	services := map[string]bool{}
	sn := root.Field("services")
	for i, sv := range c.Services {
		n := sn.Index(i)
		uniqueName(n, "name", "service name", sv.Name, services)
		if len(sv.Targets) == 0 {
			n.FieldErrorf("targets", "at least one target is required")
		}
		for j, t := range sv.Targets {
			if _, err := ParseTarget(t); err != nil {
				n.Field("targets").Index(j).Errorf("%v", err)
			}
		}
		for _, f := range []struct {
			name string
			d    time.Duration
		}{{"connect_timeout", sv.ConnectTimeout}, {"read_timeout", sv.ReadTimeout}, {"write_timeout", sv.WriteTimeout}, {"keepalive", sv.KeepAlive}} {
			if f.d < 0 {
				n.FieldErrorf(f.name, "must be positive")
			}
		}
		if *sv.Retries < 0 || *sv.Retries > 10 {
			n.FieldErrorf("retries", "must be between 0 and 10")
		}
		if sv.MaxConns < 0 {
			n.FieldErrorf("max_conns", "must be positive")
		}
		tn := n.Field("tls")
		for _, f := range []*string{&c.Services[i].TLS.CAFile, &c.Services[i].TLS.CertFile, &c.Services[i].TLS.KeyFile} {
			if *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(filepath.Dir(c.File), *f)
			}
		}
		if tn.Present() && (sv.TLS.CertFile == "") != (sv.TLS.KeyFile == "") {
			tn.Errorf("cert_file and key_file go together")
		} else if tn.Present() {
			// Build the client TLS config once for the first https target, so
			// unreadable files and bad keys are config errors, not 502s.
			for _, t := range sv.Targets {
				if pt, err := ParseTarget(t); err == nil && strings.HasPrefix(pt.Addr, "https://") {
					if _, err := tlsconf.UpstreamConfig(c.Services[i].TLS, strings.TrimPrefix(pt.Addr, "https://")); err != nil {
						// The error names its package ("tls: "), the field path already does.
						tn.Errorf("%s", strings.TrimPrefix(err.Error(), "tls: "))
					}
					break
				}
			}
		}
		pas, pn := sv.Healthchecks.Passive, n.Field("healthchecks").Field("passive")
		if fn, f := pn.Field("failures"), 0; fn.Present() && fn.Y.ShortTag() != "!!null" && fn.Y.Decode(&f) == nil && f == 0 {
			// A written 0 would be taken for the default (3), not for "off".
			fn.Errorf("must be at least 1 (-1 disables ejection)")
		}
		if pas.Ejection < 0 {
			pn.FieldErrorf("ejection", "must be positive")
		}
	}

	plugins := map[string]string{}
	pn := root.Field("plugins")
	for i := range c.Plugins {
		p := &c.Plugins[i]
		n := pn.Index(i)
		p.Node = n.Field("config")
		if p.Name == "" {
			n.FieldErrorf("name", "is required")
		} else if _, dup := plugins[p.Name]; dup {
			n.FieldErrorf("name", "duplicate plugin instance name %q", p.Name)
		}
		if p.Plugin == "" {
			n.FieldErrorf("plugin", "is required (one of: %s)", strings.Join(filters.Names(), ", "))
		} else if _, ok := filters.Lookup(p.Plugin); !ok {
			n.FieldErrorf("plugin", "unknown plugin %q (known: %s)", p.Plugin, strings.Join(filters.Names(), ", "))
		}
		plugins[p.Name] = p.Plugin
	}
	checkPluginRefs := func(n confnode.Node, refs []string) {
		kinds := map[string]string{}
		for j, ref := range refs {
			kind, ok := plugins[ref]
			if !ok {
				n.Index(j).Errorf("no plugin instance named %q", ref)
				continue
			}
			if other, dup := kinds[kind]; dup {
				n.Index(j).Errorf("%q and %q are both %s plugins; a chain takes one of each kind", other, ref, kind)
			}
			kinds[kind] = ref
		}
		if len(refs) > filters.MaxChain {
			n.Errorf("at most %d plugins per chain", filters.MaxChain)
		}
	}
	checkPluginRefs(root.Field("global_plugins"), c.GlobalPlugins)

	routes := map[string]bool{}
	rn := root.Field("routes")
	if len(c.Routes) == 0 {
		rn.Errorf("at least one route is required")
	}
	for i, r := range c.Routes {
		n := rn.Index(i)
		uniqueName(n, "name", "route name", r.Name, routes)
		for j, h := range r.Hosts {
			if h == "" {
				n.Field("hosts").Index(j).Errorf("must not be empty (leave hosts out to match any host)")
			}
		}
		if r.Service == "" {
			n.FieldErrorf("service", "is required")
		} else if !services[r.Service] {
			n.FieldErrorf("service", "no service named %q", r.Service)
		}
		checkPluginRefs(n.Field("plugins"), r.Plugins)
	}

	consumers := map[string]bool{}
	cn := root.Field("consumers")
	for i, co := range c.Consumers {
		n := cn.Index(i)
		uniqueName(n, "username", "consumer", co.Username, consumers)
	}

	if c.Blocklist.MaxEntries < 0 {
		root.Field("blocklist").FieldErrorf("max_entries", "must be positive")
	}
	c.Abuse.SetDefaults()
	c.Abuse.Validate(root.Field("abuse"))
	if c.Cluster != nil {
		c.Cluster.Validate(root.Field("cluster"))
	}

	if c.AccessLog.Buffer < 0 {
		root.Field("access_log").FieldErrorf("buffer", "must be positive")
	}
	accesslog.ReportOptions(root.Field("access_log"), c.AccessLog.Options())
}

// uniqueName checks that field of n is set and not seen before, and records it.
func uniqueName(n confnode.Node, field, kind, name string, seen map[string]bool) {
	if name == "" {
		n.FieldErrorf(field, "is required")
	} else if seen[name] {
		n.FieldErrorf(field, "duplicate %s %q", kind, name)
	}
	seen[name] = true
}

// checkAddr checks a listen address: host:port with an empty host (any
// address), an IP literal or a host name, and a port 0-65535 (0: any free
// port). The empty address is allowed when allowEmpty.
func checkAddr(n confnode.Node, addr string, allowEmpty bool) {
	if addr == "" && allowEmpty {
		return
	}
	if _, _, err := splitAddr(addr, true); err != nil {
		n.Errorf("invalid address %q: %v", addr, err)
	}
}

// splitAddr splits "host:port" and checks both parts: the port is decimal,
// 1-65535 (0-65535 for a listen address), the host an IP literal (IPv6 in
// brackets) or a DNS name; it may be empty only in a listen address. The
// host is returned without brackets, lower case and, when an IP, in its
// canonical form.
func splitAddr(addr string, listen bool) (host string, port int, err error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil || (host == "" && !listen) {
		return "", 0, errors.New("want host:port")
	}
	minPort := 1
	if listen {
		minPort = 0
	}
	if port = parsePort(ps); port < minPort {
		return "", 0, fmt.Errorf("port must be %d-65535", minPort)
	}
	if strings.HasPrefix(addr, "[") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return "", 0, fmt.Errorf("%q is not an IPv6 address", host)
		}
		return ip.String(), port, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		return ip.String(), port, nil
	}
	if host != "" && !validHostName(host) {
		return "", 0, fmt.Errorf("%q is not an IP address or host name", host)
	}
	return strings.ToLower(host), port, nil
}

// parsePort returns the decimal port ps, or -1 when it is not one.
func parsePort(ps string) int {
	if ps == "" || len(ps) > 5 {
		return -1
	}
	p := 0
	for i := 0; i < len(ps); i++ {
		if ps[i] < '0' || ps[i] > '9' {
			return -1
		}
		p = p*10 + int(ps[i]-'0')
	}
	if p > 65535 {
		return -1
	}
	return p
}

// validHostName reports whether s is a DNS name: dot-separated labels of
// letters, digits, '-' and '_' (not starting or ending with '-'), at most
// 63 bytes each and 253 in all, a final dot allowed. A name whose last
// label is all digits would be a malformed IPv4 address ("127.0.0.256").
func validHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

// listener is one configured listen address, for checkListenConflicts.
type listener struct {
	field string // listen.http, listen.https or admin.listen
	n     confnode.Node
	addr  string
	dflt  bool // addr is the default, not in the file
}

// checkListenConflicts reports a listener whose host and port (not 0)
// another one earlier in the list already uses, at the later one. An empty
// or unspecified host (0.0.0.0, ::) overlaps every host.
func checkListenConflicts(ls []listener) {
	type bound struct {
		listener
		host string
		port int
	}
	var seen []bound
	for _, l := range ls {
		host, port, err := splitAddr(l.addr, true)
		if err != nil || port == 0 {
			continue
		}
		for _, s := range seen {
			if s.port != port || (s.host != host && !anyHost(s.host) && !anyHost(host)) {
				continue
			}
			if l.dflt {
				l.n.Errorf("the default %s is the address of %s", l.addr, s.field)
			} else {
				l.n.Errorf("same address as %s (%s)", s.field, s.addr)
			}
			break
		}
		seen = append(seen, bound{l, host, port})
	}
}

func anyHost(host string) bool {
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

// validHeaderName reports whether s is an HTTP field name, a token of
// RFC 9110.
var validHeaderName = httpguts.ValidHeaderFieldName

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkCIDRs(n confnode.Node, list []string) {
	for i, s := range list {
		if _, err := clientip.ParsePrefix(s); err != nil {
			n.Index(i).Errorf("%v", err)
		}
	}
}

// Target is a parsed upstream target.
type Target struct {
	// Addr is "host:port", or "https://host:port" for a TLS target:
	// upstream.Registry dials the latter with TLS (certificate verified).
	Addr string
	TLS  bool
}

// ParseTarget parses "host:port", "http://host:port" or "https://host:port".
func ParseTarget(s string) (Target, error) {
	t := Target{}
	rest := s
	switch {
	case strings.HasPrefix(s, "http://"):
		rest = s[len("http://"):]
	case strings.HasPrefix(s, "https://"):
		rest = s[len("https://"):]
		t.TLS = true
	case strings.Contains(s, "://"):
		return t, fmt.Errorf("unsupported scheme in target %q", s)
	}
	rest = strings.TrimSuffix(rest, "/")
	if _, _, err := splitAddr(rest, false); err != nil {
		return t, fmt.Errorf("invalid target %q: %v", s, err)
	}
	t.Addr = rest
	if t.TLS {
		t.Addr = "https://" + rest
	}
	return t, nil
}
