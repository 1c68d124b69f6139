// Package confnode decodes YAML configuration strictly and reports problems
// with their place: file, line, column and field path, in the form
// `edgeguard.yaml:14:5: plugins[2].config.minute: must be > 0`.
//
// A Node is a YAML node together with its field path. Decoding into a Go
// struct rejects unknown keys (a typo in security config must never be
// silently ignored); semantic checks add errors with Errorf and FieldErrorf.
// Errors are collected, not returned one by one, so a user sees every problem
// of a file at once. A Node is not safe for concurrent use.
package confnode

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is one configuration problem at a place in a file.
type Error struct {
	File string
	Line int
	Col  int
	Path string // field path such as plugins[2].config.minute; may be empty
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is a list of problems; it is an error when non-empty.
type Errors struct {
	List []*Error
}

func (es *Errors) Error() string {
	parts := make([]string, len(es.List))
	for i, e := range es.List {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Err returns es as an error, sorted by position, or nil when it is empty.
func (es *Errors) Err() error {
	if es == nil || len(es.List) == 0 {
		return nil
	}
	sort.SliceStable(es.List, func(i, j int) bool {
		a, b := es.List[i], es.List[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return es
}

// Add records a problem.
func (es *Errors) Add(e *Error) { es.List = append(es.List, e) }

// Node is a YAML node with the path that leads to it. The zero Node stands for
// an absent value; its errors are placed at the parent.
type Node struct {
	Y    *yaml.Node
	Path string
	File string
	Errs *Errors
	// at is the node used for the position when Y is nil (a missing field).
	at *yaml.Node
}

// Parse parses data as one YAML document and returns its root node.
// A syntax error is returned as *Errors with the line of the problem.
func Parse(file string, data []byte) (Node, *Errors) {
	errs := &Errors{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		errs.Add(syntaxError(file, err))
		return Node{File: file, Errs: errs}, errs
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	if doc.Kind == 0 {
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
	}
	return Node{Y: root, File: file, Errs: errs}, errs
}

func syntaxError(file string, err error) *Error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if strings.HasPrefix(msg, "line ") {
		rest := msg[5:]
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, e := strconv.Atoi(rest[:i]); e == nil {
				line = n
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return &Error{File: file, Line: line, Col: 1, Msg: "invalid YAML: " + msg}
}

// Present reports whether the node holds a value.
func (n Node) Present() bool { return n.Y != nil }

func (n Node) pos() (int, int) {
	if n.Y != nil {
		return n.Y.Line, n.Y.Column
	}
	if n.at != nil {
		return n.at.Line, n.at.Column
	}
	return 0, 0
}

// Line returns the line of the node (or of its parent when absent).
func (n Node) Line() int { l, _ := n.pos(); return l }

// Errorf records a problem at this node.
func (n Node) Errorf(format string, args ...any) {
	l, c := n.pos()
	n.Errs.Add(&Error{File: n.File, Line: l, Col: c, Path: n.Path, Msg: fmt.Sprintf(format, args...)})
}

// Field returns the value of key name in a mapping node; absent keys give a
// Node that is not Present but reports errors at the mapping.
func (n Node) Field(name string) Node {
	child := Node{Path: joinPath(n.Path, name), File: n.File, Errs: n.Errs, at: n.Y}
	if n.Y == nil {
		child.at = n.at
		return child
	}
	if n.Y.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Y.Content); i += 2 {
			if n.Y.Content[i].Value == name {
				child.Y = n.Y.Content[i+1]
				return child
			}
		}
	}
	return child
}

// FieldErrorf records a problem at field name of this mapping.
func (n Node) FieldErrorf(name string, format string, args ...any) {
	n.Field(name).Errorf(format, args...)
}

// Index returns element i of a sequence node.
func (n Node) Index(i int) Node {
	child := Node{Path: fmt.Sprintf("%s[%d]", n.Path, i), File: n.File, Errs: n.Errs, at: n.Y}
	if n.Y != nil && n.Y.Kind == yaml.SequenceNode && i < len(n.Y.Content) {
		child.Y = n.Y.Content[i]
	}
	return child
}

// Len returns the number of elements of a sequence node.
func (n Node) Len() int {
	if n.Y == nil || n.Y.Kind != yaml.SequenceNode {
		return 0
	}
	return len(n.Y.Content)
}

// Keys returns the keys of a mapping node in file order.
func (n Node) Keys() []string {
	if n.Y == nil || n.Y.Kind != yaml.MappingNode {
		return nil
	}
	keys := make([]string, 0, len(n.Y.Content)/2)
	for i := 0; i+1 < len(n.Y.Content); i += 2 {
		keys = append(keys, n.Y.Content[i].Value)
	}
	return keys
}

func joinPath(base, name string) string {
	if base == "" {
		return name
	}
	return base + "." + name
}

// Decode decodes the node into v (a pointer to a struct, map, slice or
// scalar). Keys that v has no field for are errors, as are values of the
// wrong type. It reports whether decoding succeeded without problems.
// Fields use `yaml:"name"` tags; time.Duration accepts Go durations ("2s")
// and Size/Duration types of this package their own forms.
func (n Node) Decode(v any) bool {
	if n.Y == nil {
		return true
	}
	before := len(n.Errs.List)
	n.checkKnown(n.Y, reflect.TypeOf(v), n.Path)
	if len(n.Errs.List) != before {
		return false
	}
	if err := n.Y.Decode(v); err != nil {
		n.typeErrors(err)
		return false
	}
	return true
}

var durationType = reflect.TypeOf(time.Duration(0))

// checkKnown walks y against type t and records keys that t does not have.
func (n Node) checkKnown(y *yaml.Node, t reflect.Type, path string) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || y == nil {
		return
	}
	if y.Kind == yaml.AliasNode {
		y = y.Alias
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if y.Kind != yaml.MappingNode {
			return // the decoder reports the type error
		}
		fields := structFields(t)
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, val := y.Content[i], y.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			f, ok := fields[k.Value]
			if !ok {
				n.Errs.Add(&Error{File: n.File, Line: k.Line, Col: k.Column, Path: joinPath(path, k.Value),
					Msg: "unknown field" + suggest(k.Value, fields)})
				continue
			}
			n.checkKnown(val, f.Type, joinPath(path, k.Value))
		}
	case reflect.Slice, reflect.Array:
		if y.Kind != yaml.SequenceNode {
			return
		}
		for i, e := range y.Content {
			n.checkKnown(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if y.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(y.Content); i += 2 {
			n.checkKnown(y.Content[i+1], t.Elem(), joinPath(path, y.Content[i].Value))
		}
	}
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func structFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range structFields(ft) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f
	}
	return m
}

func suggest(key string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	for name := range fields {
		if d := editDistance(key, name); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	if len(names) <= 12 {
		return " (known: " + strings.Join(names, ", ") + ")"
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// typeErrors converts yaml.v3 decoding errors ("line 3: cannot unmarshal ...")
// into positioned errors.
func (n Node) typeErrors(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, m := range te.Errors {
			n.Errs.Add(n.lineError(m))
		}
		return
	}
	n.Errs.Add(n.lineError(err.Error()))
}

func (n Node) lineError(m string) *Error {
	l, c := n.pos()
	e := &Error{File: n.File, Line: l, Col: c, Path: n.Path, Msg: m}
	if strings.HasPrefix(m, "line ") {
		rest := m[5:]
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if ln, err := strconv.Atoi(rest[:i]); err == nil {
				e.Line, e.Col = ln, 0
				e.Msg = strings.TrimSpace(rest[i+1:])
				if y := findLine(n.Y, ln); y != nil {
					e.Col = y.Column
				}
			}
		}
	}
	e.Msg = strings.ReplaceAll(e.Msg, "yaml: ", "")
	return e
}

func findLine(y *yaml.Node, line int) *yaml.Node {
	if y == nil {
		return nil
	}
	if y.Line == line && y.Kind == yaml.ScalarNode {
		return y
	}
	for _, c := range y.Content {
		if f := findLine(c, line); f != nil {
			return f
		}
	}
	return nil
}
