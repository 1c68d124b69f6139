// Package router matches a request's host, path and method to a route. The
// table is compiled once per config load and is immutable afterwards; Match
// is safe for concurrent use and allocates nothing.
//
// Hosts: exact names ("api.example.com"), a leading wildcard
// ("*.example.com", which matches any name ending in ".example.com" but not
// "example.com" itself), or none (the route matches any host). Matching is
// case-insensitive and ignores the port. A route with an exact host wins
// over one with a wildcard host, which wins over one without hosts; among
// wildcards the longest suffix wins.
//
// Paths: prefixes as in Kong ("/v1" matches "/v1", "/v1/items" and
// "/v1beta"); the longest matching prefix wins. Methods: an optional list;
// a route with methods only matches those. Paths are matched against the
// normalised path (package pathnorm).
package router

import (
	"fmt"
	"sort"
	"strings"
)

// Spec describes one route for Compile.
type Spec[T any] struct {
	Name    string
	Hosts   []string
	Paths   []string // default ["/"]
	Methods []string
	Value   T
}

type entry[T any] struct {
	prefix  string
	methods uint16 // bit set of methodBit; 0 = any
	value   T
	name    string
}

type table[T any] struct{ entries []entry[T] } // sorted by len(prefix) desc

type wildcard[T any] struct {
	suffix string // ".example.com"
	t      *table[T]
}

// Router is a compiled route table.
type Router[T any] struct {
	exact    map[string]*table[T]
	wild     []wildcard[T]
	any      *table[T]
	maxExact int
}

var methodBits = map[string]uint16{
	"GET": 1 << 0, "HEAD": 1 << 1, "POST": 1 << 2, "PUT": 1 << 3, "PATCH": 1 << 4,
	"DELETE": 1 << 5, "OPTIONS": 1 << 6, "TRACE": 1 << 7, "CONNECT": 1 << 8,
}

func methodBit(m []byte) uint16 {
	switch string(m) {
	case "GET":
		return 1 << 0
	case "HEAD":
		return 1 << 1
	case "POST":
		return 1 << 2
	case "PUT":
		return 1 << 3
	case "PATCH":
		return 1 << 4
	case "DELETE":
		return 1 << 5
	case "OPTIONS":
		return 1 << 6
	case "TRACE":
		return 1 << 7
	case "CONNECT":
		return 1 << 8
	}
	return 1 << 15 // other methods only match routes without a method list
}

// Problem is a compile error for route index Route, field Field
// ("hosts[1]", "paths[0]", "methods[2]").
type Problem struct {
	Route int
	Field string
	Msg   string
}

func (p Problem) Error() string { return fmt.Sprintf("routes[%d].%s: %s", p.Route, p.Field, p.Msg) }

// Compile builds a Router. It reports every invalid host, path or method and
// routes that would shadow each other exactly (same host, path and method).
func Compile[T any](specs []Spec[T]) (*Router[T], []Problem) {
	r := &Router[T]{exact: map[string]*table[T]{}}
	var probs []Problem
	wild := map[string]*table[T]{}
	type key struct{ host, prefix string }
	seen := map[key]map[uint16]int{}
	for i, s := range specs {
		var mbits uint16
		for j, m := range s.Methods {
			b, ok := methodBits[strings.ToUpper(m)]
			if !ok {
				probs = append(probs, Problem{i, fmt.Sprintf("methods[%d]", j), fmt.Sprintf("unknown method %q", m)})
				continue
			}
			mbits |= b
		}
		paths := s.Paths
		if len(paths) == 0 {
			paths = []string{"/"}
		}
		for j, p := range paths {
			if !strings.HasPrefix(p, "/") {
				probs = append(probs, Problem{i, fmt.Sprintf("paths[%d]", j), "must start with /"})
			} else if strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
				strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..") || strings.ContainsAny(p, "?#\\%") {
				probs = append(probs, Problem{i, fmt.Sprintf("paths[%d]", j), "must be a normalised path prefix (no //, dot segments, %, ?, # or \\)"})
			}
		}
		hosts := s.Hosts
		if len(hosts) == 0 {
			hosts = []string{""}
		}
		for j, h := range hosts {
			h = strings.ToLower(h)
			var t *table[T]
			switch {
			case h == "":
				if r.any == nil {
					r.any = &table[T]{}
				}
				t = r.any
			case strings.HasPrefix(h, "*."):
				suffix := h[1:]
				if !validHost(suffix[1:]) {
					probs = append(probs, Problem{i, fmt.Sprintf("hosts[%d]", j), fmt.Sprintf("invalid wildcard host %q", s.Hosts[j])})
					continue
				}
				if wild[suffix] == nil {
					wild[suffix] = &table[T]{}
				}
				t = wild[suffix]
			default:
				if !validHost(h) {
					probs = append(probs, Problem{i, fmt.Sprintf("hosts[%d]", j), fmt.Sprintf("invalid host %q (only a leading *. wildcard is supported)", s.Hosts[j])})
					continue
				}
				if r.exact[h] == nil {
					r.exact[h] = &table[T]{}
				}
				t = r.exact[h]
				r.maxExact = max(r.maxExact, len(h))
			}
			for _, p := range paths {
				k := key{h, p}
				if seen[k] == nil {
					seen[k] = map[uint16]int{}
				}
				for m, other := range seen[k] {
					if m&mbits != 0 || m == 0 || mbits == 0 {
						if other != i && (m == mbits || m == 0 && mbits == 0) {
							probs = append(probs, Problem{i, "paths", fmt.Sprintf("route %q has the same host %q, path %q and methods as route %q", s.Name, h, p, specs[other].Name)})
						}
					}
				}
				seen[k][mbits] = i
				t.entries = append(t.entries, entry[T]{prefix: p, methods: mbits, value: s.Value, name: s.Name})
			}
		}
	}
	sortTable := func(t *table[T]) {
		sort.SliceStable(t.entries, func(a, b int) bool {
			ea, eb := t.entries[a], t.entries[b]
			if len(ea.prefix) != len(eb.prefix) {
				return len(ea.prefix) > len(eb.prefix)
			}
			// with equal prefixes, routes with methods are tried first
			return ea.methods != 0 && eb.methods == 0
		})
	}
	for _, t := range r.exact {
		sortTable(t)
	}
	if r.any != nil {
		sortTable(r.any)
	}
	for suffix, t := range wild {
		sortTable(t)
		r.wild = append(r.wild, wildcard[T]{suffix: suffix, t: t})
	}
	sort.Slice(r.wild, func(a, b int) bool { return len(r.wild[a].suffix) > len(r.wild[b].suffix) })
	return r, probs
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range []byte(h) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return !strings.HasPrefix(h, ".") && !strings.HasSuffix(h, ".") && !strings.Contains(h, "..")
}

// Match returns the route value for host (as in the Host header, port
// allowed), the normalised path and the method, and whether one matched.
func (r *Router[T]) Match(host, path, method []byte) (T, string, bool) {
	mb := methodBit(method)
	if len(r.exact) == 0 && len(r.wild) == 0 {
		// No route names a host: the Host header does not matter.
		if r.any != nil {
			return r.any.match(path, mb)
		}
		var zero T
		return zero, "", false
	}
	var buf [256]byte
	h := hostKey(buf[:0], host)
	if len(h) == 0 && len(host) > 0 && host[0] != ':' {
		// A host too long for a DNS name (or an unclosed IPv6 literal):
		// no match, rather than the routes for any host, which would skip
		// the policies of the routes naming it.
		var zero T
		return zero, "", false
	}
	if len(h) > 0 {
		if t, ok := r.exact[string(h)]; ok {
			if v, name, ok := t.match(path, mb); ok {
				return v, name, true
			}
		}
		for i := range r.wild {
			w := &r.wild[i]
			if len(h) > len(w.suffix) && string(h[len(h)-len(w.suffix):]) == w.suffix {
				if v, name, ok := w.t.match(path, mb); ok {
					return v, name, true
				}
			}
		}
	}
	if r.any != nil {
		return r.any.match(path, mb)
	}
	var zero T
	return zero, "", false
}

func (t *table[T]) match(path []byte, mb uint16) (T, string, bool) {
	for i := range t.entries {
		e := &t.entries[i]
		if len(path) >= len(e.prefix) && string(path[:len(e.prefix)]) == e.prefix &&
			(e.methods == 0 || e.methods&mb != 0) {
			return e.value, e.name, true
		}
	}
	var zero T
	return zero, "", false
}

// hostKey lower-cases host and strips a port and a trailing dot.
func hostKey(dst, host []byte) []byte {
	if len(host) > 0 && host[0] == '[' { // IPv6 literal
		for i, c := range host {
			if c == ']' {
				return append(dst, host[:i+1]...)
			}
		}
		return dst
	}
	for i := len(host) - 1; i >= 0; i-- {
		if host[i] == ':' {
			host = host[:i]
			break
		}
		if host[i] < '0' || host[i] > '9' {
			break
		}
	}
	if len(host) > 0 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	if len(host) > cap(dst) {
		return dst
	}
	for _, c := range host {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
