// Package filters defines the contract every edgeguard policy implements and
// the per-request state the phases share.
//
// A policy is a Filter: Access runs before the request goes upstream and
// returns a Verdict. Continue means nothing was written and the next filter
// runs; Respond means the filter wrote the whole response (status, headers,
// JSON body) and the chain stops; Drop closes the connection without a
// response. Filters may also implement ResponseFilter (runs when the
// response headers are known, for every filter whose Access continued) and
// LogFilter (runs after the response, for every filter of the chain).
//
// Filters are built once per config load by a Plugin's New function and are
// then immutable: they are called concurrently from many goroutines and must
// not allocate or lock globally on the request path.
//
// Two helpers keep filters cheap and correct on the request path: URI is the
// only way a filter parses the request URI (it keeps the gateway's
// normalised path as it is; TestFiltersUseCtxURI enforces it), and
// HeaderNames looks for, removes or sets a fixed set of request headers
// without fasthttp re-normalising their names on every call.
package filters

import (
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Verdict is what Access decided.
type Verdict uint8

const (
	// Continue: nothing was written; run the next filter.
	Continue Verdict = iota
	// Respond: the filter wrote the response; stop the chain.
	Respond
	// Drop: close the connection without writing a response.
	Drop
)

// Filter is one policy instance in a route's chain.
type Filter interface {
	// Access decides whether the request may go on. It runs before the
	// request is sent upstream.
	Access(c *Ctx) Verdict
}

// ResponseFilter is implemented by filters that change the response headers
// (for example rate-limit headers). Response runs for every filter whose
// Access returned Continue, whether the response came from the upstream or
// from a later filter.
type ResponseFilter interface {
	Response(c *Ctx)
}

// LogFilter is implemented by filters that observe the finished request
// (for example http-log). Log runs for every filter of the chain after the
// response has been produced. It must not block.
type LogFilter interface {
	Log(c *Ctx)
}

// Plugin describes one kind of filter, by its Kong name.
type Plugin struct {
	// Name is the Kong plugin name used in config (`plugin: rate-limiting`).
	Name string
	// New builds a filter from its `config:` node. Problems are recorded on
	// cfg (cfg.Errorf, cfg.FieldErrorf) with their place; New then returns a
	// nil Filter. A non-nil error is reported at the config node.
	New func(cfg confnode.Node, env *Env) (Filter, error)
}

var registry = map[string]*Plugin{}

// Register makes a plugin available to the config loader. It is called from
// init functions of the filter packages and panics on a duplicate name or a
// name missing from Order.
func Register(p *Plugin) {
	if _, dup := registry[p.Name]; dup {
		panic("filters: duplicate plugin " + p.Name)
	}
	if OrderOf(p.Name) < 0 {
		panic("filters: plugin " + p.Name + " has no place in filters.Order")
	}
	registry[p.Name] = p
}

// Lookup returns the registered plugin with the given Kong name.
func Lookup(name string) (*Plugin, bool) {
	p, ok := registry[name]
	return p, ok
}

// Names returns the names of all registered plugins in chain order.
func Names() []string {
	var out []string
	for _, n := range Order {
		if _, ok := registry[n]; ok {
			out = append(out, n)
		}
	}
	return out
}
