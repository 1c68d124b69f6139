package kongimport

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Problem is one thing the import could not carry over (or, for notes,
// something the user should know), placed in the input.
type Problem struct {
	File      string
	Line, Col int
	// Object names the input object: "KongPlugin jwt-auth", "Ingress api",
	// "kong.yml services[0]".
	Object string
	// Field is the field inside Object ("config.custom_fields_by_lua");
	// may be empty.
	Field string
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Col)
	}
	b.WriteString(": ")
	if p.Object != "" {
		b.WriteString(p.Object)
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// src is a place in the input.
type src struct {
	file   string
	line   int
	col    int
	object string
}

func at(file, object string, n *yaml.Node) src {
	s := src{file: file, object: object}
	if n != nil {
		s.line, s.col = n.Line, n.Column
	}
	return s
}

func (s src) with(n *yaml.Node) src {
	if n != nil && n.Line > 0 {
		s.line, s.col = n.Line, n.Column
	}
	return s
}

// report collects problems.
type report struct {
	untranslated, notes []Problem
}

func (r *report) add(list *[]Problem, s src, field, format string, args ...any) {
	*list = append(*list, Problem{File: s.file, Line: s.line, Col: s.col, Object: s.object, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// untr records something that was not translated.
func (r *report) untr(s src, field, format string, args ...any) {
	r.add(&r.untranslated, s, field, format, args...)
}

// note records something translated that the user should know about.
func (r *report) note(s src, field, format string, args ...any) {
	r.add(&r.notes, s, field, format, args...)
}

// fields walks a YAML mapping, handing out keys and reporting the ones
// nobody asked for as untranslated.
type fields struct {
	r      *report
	s      src
	prefix string // field path prefix, "" or "spec."
	n      *yaml.Node
	used   map[string]bool
}

func newFields(r *report, s src, prefix string, n *yaml.Node) *fields {
	f := &fields{r: r, s: s, prefix: prefix, n: n, used: map[string]bool{}}
	if n != nil && n.Kind != yaml.MappingNode && !isNull(n) {
		r.untr(s.with(n), strings.TrimSuffix(prefix, "."), "expected a mapping, got %s", confnode.KindName(n))
		f.n = nil
	}
	return f
}

// get returns the value of key (nil when absent) and marks it used.
func (f *fields) get(key string) *yaml.Node {
	f.used[key] = true
	return lookup(f.n, key)
}

// keyNode returns the key node of key, for its position.
func (f *fields) keyNode(key string) *yaml.Node {
	if f.n == nil {
		return nil
	}
	for i := 0; i+1 < len(f.n.Content); i += 2 {
		if f.n.Content[i].Value == key {
			return f.n.Content[i]
		}
	}
	return nil
}

// ignore marks keys that carry no policy (metadata) as handled.
func (f *fields) ignore(keys ...string) {
	for _, k := range keys {
		f.used[k] = true
	}
}

// rest reports every key not handed out.
func (f *fields) rest(why string) {
	if f.n == nil {
		return
	}
	for i := 0; i+1 < len(f.n.Content); i += 2 {
		k := f.n.Content[i]
		if !f.used[k.Value] {
			f.r.untr(f.s.with(k), f.prefix+k.Value, "%s", why)
		}
	}
}

func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for d := 0; n != nil && n.Kind == yaml.AliasNode && d < 16; d++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "" && n.Style == 0 && n.Tag != "!!str")
}

// str returns a scalar's value ("" for anything else).
func str(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// strList returns a list of scalars (a single scalar counts as a list of one).
func strList(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		if s := str(n); s != "" {
			return []string{s}
		}
		return nil
	}
	var out []string
	if n.Kind == yaml.SequenceNode {
		for _, c := range n.Content {
			if s := str(resolve(c)); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func boolOf(n *yaml.Node) (v, ok bool) {
	switch strings.ToLower(str(n)) {
	case "true", "yes", "on", "1":
		return true, true
	case "false", "no", "off", "0":
		return false, true
	}
	return false, false
}

func intOf(n *yaml.Node) (int64, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(str(n)), 10, 64)
	return v, err == nil
}

func floatOf(n *yaml.Node) (float64, bool) {
	v, err := strconv.ParseFloat(strings.TrimSpace(str(n)), 64)
	return v, err == nil
}

func items(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]*yaml.Node, 0, len(n.Content))
	for _, c := range n.Content {
		if c = resolve(c); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// deepCopy copies a node tree, dropping head and foot comments (they
// belong to the input's layout) and resolving aliases.
func deepCopy(n *yaml.Node) *yaml.Node {
	return copyDepth(n, 0)
}

func copyDepth(n *yaml.Node, d int) *yaml.Node {
	n = resolve(n)
	if n == nil || d > 64 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	c := *n
	c.HeadComment, c.FootComment = "", ""
	c.Anchor = ""
	c.Content = nil
	for _, k := range n.Content {
		c.Content = append(c.Content, copyDepth(k, d+1))
	}
	return &c
}

// Output tree builders.

func scalarStr(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func scalarInt(v int64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v, 10)}
}

func scalarBool(v bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}
}

func flowStrs(list []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range list {
		n.Content = append(n.Content, scalarStr(s))
	}
	return n
}

type mapBuilder struct{ n *yaml.Node }

func newMap() *mapBuilder { return &mapBuilder{n: &yaml.Node{Kind: yaml.MappingNode}} }

func (m *mapBuilder) set(key string, v *yaml.Node) *mapBuilder {
	m.n.Content = append(m.n.Content, scalarStr(key), v)
	return m
}

// removeKey deletes key from a mapping; it reports whether it was there.
func removeKey(n *yaml.Node, key string) bool {
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
