// Package iprestrict implements Kong's `ip-restriction` plugin: allow and
// deny lists of IPv4/IPv6 addresses and CIDRs, compiled at config load into
// prefix tables (github.com/gaissmai/bart), so a decision costs one or two
// table walks whatever the size of the lists.
//
// Precedence is Kong's: deny is checked first and wins; then, when allow is
// non-empty, only addresses inside it pass. The client address is
// Ctx.ClientIP, which the core resolved through trusted_proxies; a forwarded
// header from an untrusted peer therefore changes nothing here. An
// IPv4-mapped IPv6 client address (::ffff:10.1.2.3) is unmapped before the
// lookup, so it matches IPv4 entries; mapped entries in the lists are
// converted to IPv4 at load (see ParsePrefix).
//
// A rejection is Kong's: status 403 (config `status`) and the JSON body
// {"message":"IP address not allowed: <ip>","request_id":"..."} (config
// `message`). A Filter is immutable after New and safe for concurrent use;
// Access does not allocate.
package iprestrict

import (
	"fmt"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/VictoriaMetrics/metrics"
	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Name is the Kong plugin name.
const Name = "ip-restriction"

// Reasons recorded in Ctx.RejectReason.
const (
	ReasonDenied     = "ip_denied"      // the client is in deny
	ReasonNotAllowed = "ip_not_allowed" // allow is non-empty and the client is not in it
	ReasonUnknownIP  = "ip_unknown"     // no client address (unix socket peer)
)

// DefaultMessagePrefix is Kong's (≥3.4) default message, followed by the
// client address.
const DefaultMessagePrefix = "IP address not allowed: "

// unknownIPMessage is Kong's message for peers without an IP address.
const unknownIPMessage = "Cannot identify the client IP address, unix domain sockets are not supported."

func init() {
	filters.Register(&filters.Plugin{Name: Name, New: New})
}

// Filter is a compiled ip-restriction instance.
type Filter struct {
	c compiled

	deniedTotal     *metrics.Counter
	notAllowedTotal *metrics.Counter
}

// New builds an ip-restriction filter from its `config:` node. Config
// problems are recorded on n with their place (a bad entry is reported at
// its list index, e.g. `plugins[2].config.allow[3]`), and New then returns
// nil, nil.
func New(n confnode.Node, env *filters.Env) (filters.Filter, error) {
	var cfg Config
	var c compiled
	var warnings []deprecation
	if !filters.DecodeConfig(n, &cfg, func() { c, warnings, _ = compile(n, &cfg) }) {
		return nil, nil
	}
	if env != nil && env.Logger != nil {
		for _, w := range warnings {
			env.Logger.Warn(fmt.Sprintf("%s:%d: %s: ip-restriction: %q is deprecated (removed in Kong 3.0), use %q",
				w.File, w.Line, w.Path, w.Old, w.New), "field", w.Path)
		}
	}
	return newFilter(c, env), nil
}

// NewFromConfig builds a filter from a Config value (for callers that do
// not load YAML, such as tests and the admin API). All problems are
// returned as one error.
func NewFromConfig(cfg Config, env *filters.Env) (*Filter, error) {
	errs := &confnode.Errors{}
	f, _ := New(confnode.Node{Y: configNode(&cfg), Path: "config", File: "config", Errs: errs}, env)
	if err := errs.Err(); err != nil {
		return nil, fmt.Errorf("ip-restriction: %w", err)
	}
	return f.(*Filter), nil
}

// configNode builds the YAML node tree of cfg directly (yaml.Node.Encode
// would print and re-parse it, which costs seconds for 100,000 entries).
func configNode(cfg *Config) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	scalar := func(tag, v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }
	list := func(key string, vs []string) {
		if vs == nil {
			return
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: make([]*yaml.Node, len(vs))}
		for i, v := range vs {
			seq.Content[i] = scalar("!!str", v)
		}
		m.Content = append(m.Content, scalar("!!str", key), seq)
	}
	list("allow", cfg.Allow)
	list("deny", cfg.Deny)
	list("whitelist", cfg.Whitelist)
	list("blacklist", cfg.Blacklist)
	if cfg.Status != 0 {
		m.Content = append(m.Content, scalar("!!str", "status"), scalar("!!int", strconv.Itoa(cfg.Status)))
	}
	if cfg.Message != "" {
		m.Content = append(m.Content, scalar("!!str", "message"), scalar("!!str", cfg.Message))
	}
	return m
}

func newFilter(c compiled, env *filters.Env) *Filter {
	f := &Filter{c: c}
	if env != nil && env.Metrics != nil {
		inst := env.InstanceName
		f.deniedTotal = env.Metrics.GetOrCreateCounter(
			fmt.Sprintf(`edgeguard_ip_restriction_rejected_total{plugin=%q,reason=%q}`, inst, ReasonDenied))
		f.notAllowedTotal = env.Metrics.GetOrCreateCounter(
			fmt.Sprintf(`edgeguard_ip_restriction_rejected_total{plugin=%q,reason=%q}`, inst, ReasonNotAllowed))
	}
	return f
}

// Access rejects the request when the client address is denied or not
// allowed. It does not allocate.
func (f *Filter) Access(c *filters.Ctx) filters.Verdict {
	ok, reason := f.Check(c.ClientIP)
	if ok {
		return filters.Continue
	}
	switch reason {
	case ReasonDenied:
		inc(f.deniedTotal)
	case ReasonNotAllowed:
		inc(f.notAllowedTotal)
	default:
		return c.Reject(DefaultStatus, ReasonUnknownIP, unknownIPMessage)
	}
	return f.reject(c, reason)
}

// Check is the decision Access takes, without a request: whether addr may
// pass, and otherwise why (one of the Reason constants).
func (f *Filter) Check(addr netip.Addr) (pass bool, reason string) {
	ip := addr.Unmap()
	if !ip.IsValid() {
		return false, ReasonUnknownIP
	}
	if f.c.t != nil {
		if v, ok := f.c.t.Lookup(ip); ok {
			if v == valDeny {
				return false, ReasonDenied
			}
			return true, ""
		}
	}
	if f.c.hasAllow {
		return false, ReasonNotAllowed
	}
	return true, ""
}

func (f *Filter) reject(c *filters.Ctx, reason string) filters.Verdict {
	if f.c.message != "" {
		return c.Reject(f.c.status, reason, f.c.message)
	}
	// The default message holds the client address. It is built in a stack
	// buffer and handed to Reject as a string without copying: Reject only
	// reads msg while encoding the body, so the bytes need to live only
	// during the call.
	var buf [96]byte
	msg := append(buf[:0], DefaultMessagePrefix...)
	msg = c.ClientIP.Unmap().AppendTo(msg)
	return c.Reject(f.c.status, reason, unsafe.String(unsafe.SliceData(msg), len(msg)))
}

func inc(c *metrics.Counter) {
	if c != nil {
		c.Inc()
	}
}

// Sizes returns the number of entries of the allow and deny lists.
func (f *Filter) Sizes() (allow, deny int) { return f.c.nAllow, f.c.nDeny }

var _ filters.Filter = (*Filter)(nil)
