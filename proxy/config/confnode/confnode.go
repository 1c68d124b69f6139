// Package confnode decodes YAML configuration strictly and reports problems
// with their place: file, line, column and field path, in the form
// `edgeguard.yaml:14:5: plugins[2].config.minute: must be > 0`.
//
// A Node is a YAML node together with its field path. Decoding into a Go
// struct rejects unknown and duplicate keys (a typo in security config must
// never be silently ignored), as Parse rejects a second YAML document; semantic checks add errors with Errorf and FieldErrorf.
// Errors are collected, not returned one by one, so a user sees every problem
// of a file at once. A Node is not safe for concurrent use.
package confnode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

	dupKey bool // see DuplicateKey
}

// DuplicateKey reports whether e is about a repeated mapping key. Decode
// keeps the first value and drops the repeat, so the field still holds a
// good value and later checks of it are no repeats of e.
func (e *Error) DuplicateKey() bool { return e.dupKey }

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

// Under reports whether e is about the field at path or a part of it
// (path "services[0]" covers "services[0].targets[1]").
func (e *Error) Under(path string) bool {
	return path != "" && strings.HasPrefix(e.Path, path) &&
		(len(e.Path) == len(path) || e.Path[len(path)] == '.' || e.Path[len(path)] == '[')
}

// Repeats reports whether e is at or under a field whose value failed to
// decode (one of failed, other than duplicate keys, which keep their first
// value): a check's "must be > 0" of the zero value left there would only
// repeat that field's decode error.
func (e *Error) Repeats(failed []*Error) bool {
	for _, f := range failed {
		if !f.DuplicateKey() && e.Under(f.Path) {
			return true
		}
	}
	return false
}

// Has reports whether a problem was recorded at path or a part of it.
func (es *Errors) Has(path string) bool {
	for _, e := range es.List {
		if e.Under(path) {
			return true
		}
	}
	return false
}

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
// A syntax error is returned as *Errors with the line of the problem, as
// is a second document (after "---"): a file holds one. Documents with
// nothing in them (a final "---", only comments) are allowed. Duplicate
// keys are reported by Decode, with their field path.
func Parse(file string, data []byte) (Node, *Errors) {
	errs := &Errors{}
	var root *yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			errs.Add(syntaxError(file, err))
			if root == nil {
				return Node{File: file, Errs: errs}, errs
			}
			break
		}
		if len(doc.Content) == 0 || emptyDocument(doc.Content[0]) {
			continue
		}
		if root != nil {
			y := doc.Content[0]
			errs.Add(&Error{File: file, Line: y.Line, Col: y.Column, Msg: "a config file holds one YAML document"})
			break
		}
		root = doc.Content[0]
	}
	if root == nil {
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
	}
	expandEnv(file, root, "", errs)
	return Node{Y: root, File: file, Errs: errs}, errs
}

// emptyDocument reports whether y is the content of a document with
// nothing in it (not even "~" or "null").
func emptyDocument(y *yaml.Node) bool {
	return y.Kind == yaml.ScalarNode && y.ShortTag() == "!!null" && y.Value == "" && y.Style == 0
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
	// Decoded even after an unknown key (which yaml.v3 skips), so that the
	// type errors are listed too and v holds every value that is good.
	if err := n.Y.Decode(v); err != nil {
		n.typeErrors(err)
	}
	return len(n.Errs.List) == before
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
	if t == yamlNodeType || isNull(y) {
		return
	}
	if msg := shapeError(y, t); msg != "" {
		n.Errs.Add(&Error{File: n.File, Line: y.Line, Col: y.Column, Path: path, Msg: msg})
		// The value is decoded as absent (the field keeps its zero value),
		// so the decoder goes on to the rest of the file.
		*y = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: y.Line, Column: y.Column}
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		n.dropDuplicates(y, path)
		fields := structFields(t)
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, val := y.Content[i], y.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			f, ok := fields[k.Value]
			if !ok && strings.HasSuffix(k.Value, "_file") {
				if base, isBase := fields[strings.TrimSuffix(k.Value, "_file")]; isBase && base.Type.Kind() == reflect.String {
					if n.readSecretFile(y, i, path) {
						continue
					}
					ok, f = true, base
				}
			}
			if !ok {
				n.Errs.Add(&Error{File: n.File, Line: k.Line, Col: k.Column, Path: joinPath(path, k.Value),
					Msg: "unknown field" + suggest(k.Value, fields)})
				continue
			}
			n.checkKnown(val, f.Type, joinPath(path, k.Value))
		}
	case reflect.Slice, reflect.Array:
		for i, e := range y.Content {
			n.checkKnown(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		n.dropDuplicates(y, path)
		for i := 0; i+1 < len(y.Content); i += 2 {
			n.checkKnown(y.Content[i+1], t.Elem(), joinPath(path, y.Content[i].Value))
		}
	}
}

// dropDuplicates records an error at each key of mapping y that repeats an
// earlier one and removes that key and its value, so the first stays and
// the rest of the file is still decoded and checked. Keys are compared as
// yaml.v3 does (kind and text).
func (n Node) dropDuplicates(y *yaml.Node, path string) {
	out := y.Content[:0]
	for i := 0; i+1 < len(y.Content); i += 2 {
		k := y.Content[i]
		dup := false
		for j := 0; j < len(out); j += 2 {
			if first := out[j]; first.Kind == k.Kind && first.Value == k.Value && k.Value != "<<" {
				n.Errs.Add(&Error{File: n.File, Line: k.Line, Col: k.Column, Path: joinPath(path, k.Value),
					Msg: fmt.Sprintf("duplicate key (first at line %d)", first.Line), dupKey: true})
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, k, y.Content[i+1])
		}
	}
	y.Content = out
}

func isNull(y *yaml.Node) bool {
	return y.Kind == yaml.ScalarNode && y.ShortTag() == "!!null"
}

// shapeError says what is wrong when y cannot be decoded into a value of
// type t (t is not a pointer): a list where a mapping belongs, "yes" for a
// bool, "60000" for a duration, or what a custom UnmarshalYAML refuses.
// Scalars are tried with the decoder itself, so what it accepts is exactly
// what passes here.
func shapeError(y *yaml.Node, t reflect.Type) string {
	if y.Kind == yaml.AliasNode {
		y = y.Alias
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		err := reflect.New(t).Interface().(yaml.Unmarshaler).UnmarshalYAML(y)
		var ne *NodeError
		switch {
		case err == nil:
			return ""
		case errors.As(err, &ne):
			return ne.Msg
		}
		return stripLine(err.Error())
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		if y.Kind != yaml.MappingNode {
			return "must be a mapping (name: value), not " + KindName(y)
		}
		return ""
	case reflect.Slice, reflect.Array:
		if y.Kind != yaml.SequenceNode {
			return "must be a list, not " + KindName(y)
		}
		return ""
	case reflect.Interface:
		return ""
	}
	if y.Kind != yaml.ScalarNode {
		return "must be a single value, not " + KindName(y)
	}
	if y.Decode(reflect.New(t).Interface()) == nil {
		return ""
	}
	if y.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && t != durationType && (t.Kind() == reflect.Bool || t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64) {
		// "false" or "3": the value would do without its quotes.
		plain := yaml.Node{Kind: yaml.ScalarNode, Value: y.Value}
		if plain.Decode(reflect.New(t).Interface()) == nil {
			what := "a number"
			switch {
			case t.Kind() == reflect.Bool:
				what = "true or false"
			case t.Kind() <= reflect.Uint64:
				what = "a whole number"
			}
			return fmt.Sprintf("must be %s, not the string %q (remove the quotes)", what, y.Value)
		}
	}
	switch {
	case t == durationType && (y.ShortTag() == "!!int" || y.ShortTag() == "!!float"):
		return fmt.Sprintf("a duration needs a unit, such as %[1]sms or %[1]ss (got %[1]s)", y.Value)
	case t == durationType:
		return fmt.Sprintf("invalid duration %q (such as 500ms, 30s, 5m or 1h)", y.Value)
	case t.Kind() == reflect.Bool:
		return fmt.Sprintf("must be true or false (got %q)", y.Value)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return fmt.Sprintf("must be a whole number in range (got %q)", y.Value)
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return fmt.Sprintf("must be a number (got %q)", y.Value)
	}
	return fmt.Sprintf("invalid value %q", y.Value)
}

// KindName names what y is, for messages: "a mapping", "a list" or the
// quoted scalar.
func KindName(y *yaml.Node) string {
	switch y.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", y.Value)
	}
	return "something else"
}

// stripLine removes the "line N: " an UnmarshalYAML error may start with
// (the error is placed by its node).
func stripLine(msg string) string {
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if _, err := strconv.Atoi(rest[:i]); err == nil {
				return rest[i+2:]
			}
		}
	}
	return msg
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	yamlNodeType    = reflect.TypeOf(yaml.Node{})
)

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
		if d := EditDistance(key, name); d < bestD || (d == bestD && name < best) {
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

// EditDistance is the Levenshtein distance of a and b, for "did you mean"
// suggestions.
func EditDistance(a, b string) int {
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

// NodeError is an error a custom UnmarshalYAML returns to have it reported
// at the node's place with its field path.
type NodeError struct {
	Node *yaml.Node
	Msg  string
}

func (e *NodeError) Error() string { return e.Msg }

// pathTo returns the field path of target below y (relative to base).
func pathTo(y, target *yaml.Node, base string) (string, bool) {
	if y == target {
		return base, true
	}
	switch y.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(y.Content); i += 2 {
			if p, ok := pathTo(y.Content[i+1], target, joinPath(base, y.Content[i].Value)); ok {
				return p, true
			}
		}
	case yaml.SequenceNode:
		for i, c := range y.Content {
			if p, ok := pathTo(c, target, fmt.Sprintf("%s[%d]", base, i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// typeErrors converts yaml.v3 decoding errors ("line 3: cannot unmarshal ...")
// into positioned errors.
func (n Node) typeErrors(err error) {
	var ne *NodeError
	if errors.As(err, &ne) {
		path, _ := pathTo(n.Y, ne.Node, n.Path)
		n.Errs.Add(&Error{File: n.File, Line: ne.Node.Line, Col: ne.Node.Column, Path: path, Msg: ne.Msg})
		return
	}
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

// readSecretFile replaces the pair `x_file: PATH` at y.Content[i] by
// `x: <contents of PATH>` (trailing newline removed). A relative PATH is
// taken from the directory of the config file. It reports whether the pair
// was replaced.
func (n Node) readSecretFile(y *yaml.Node, i int, path string) bool {
	k, v := y.Content[i], y.Content[i+1]
	base := strings.TrimSuffix(k.Value, "_file")
	path = joinPath(path, k.Value)
	for j := 0; j+1 < len(y.Content); j += 2 {
		if y.Content[j].Value == base {
			n.Errs.Add(&Error{File: n.File, Line: k.Line, Col: k.Column, Path: path, Msg: "give either " + base + " or " + k.Value + ", not both"})
			return true
		}
	}
	if v.Kind != yaml.ScalarNode || v.Value == "" {
		n.Errs.Add(&Error{File: n.File, Line: v.Line, Col: v.Column, Path: path, Msg: "must be a file path"})
		return true
	}
	file := v.Value
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(n.File), file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		n.Errs.Add(&Error{File: n.File, Line: v.Line, Col: v.Column, Path: path, Msg: "cannot read secret file: " + err.Error()})
		return true
	}
	k.Value = base
	*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.TrimRight(string(data), "\r\n"), Line: v.Line, Column: v.Column, Style: yaml.DoubleQuotedStyle}
	return false
}

// expandEnv replaces ${VAR} and ${VAR:-default} in every scalar of y, whose
// field path is path; $$ stands for a literal $. An unset variable without a
// default is an error.
func expandEnv(file string, y *yaml.Node, path string, errs *Errors) {
	if y == nil {
		return
	}
	if y.Kind == yaml.ScalarNode && strings.Contains(y.Value, "$") {
		out, err := expandString(y.Value)
		if err != nil {
			errs.Add(&Error{File: file, Line: y.Line, Col: y.Column, Path: path, Msg: err.Error()})
		} else if out != y.Value {
			y.Value = out
			if y.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
				// A plain ${VAR} takes the type of its value (port: ${PORT}).
				y.Tag = ""
			} else {
				y.Tag = "!!str"
			}
		}
	}
	switch y.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(y.Content); i += 2 {
			k := y.Content[i]
			expandEnv(file, k, joinPath(path, k.Value), errs)
			expandEnv(file, y.Content[i+1], joinPath(path, k.Value), errs)
		}
	case yaml.SequenceNode:
		for i, c := range y.Content {
			expandEnv(file, c, fmt.Sprintf("%s[%d]", path, i), errs)
		}
	default:
		for _, c := range y.Content {
			expandEnv(file, c, path, errs)
		}
	}
}

func expandString(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			expr := s[i+2 : i+end]
			name, def, hasDef := strings.Cut(expr, ":-")
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid environment variable name %q", name)
			}
			val, ok := os.LookupEnv(name)
			if !ok || (val == "" && hasDef) {
				if !hasDef {
					return "", fmt.Errorf("environment variable %s is not set", name)
				}
				val = def
			}
			b.WriteString(val)
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Size is a byte count written as a number of bytes or with a unit:
// "512", "64k", "10m", "1g", "10MB", "10MiB" (units are binary: 1k = 1024).
type Size int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(v *yaml.Node) error {
	n, err := ParseSize(v.Value)
	if err != nil {
		return &NodeError{Node: v, Msg: err.Error()}
	}
	*s = Size(n)
	return nil
}

// ParseSize parses a Size.
func ParseSize(str string) (int64, error) {
	t := strings.TrimSpace(strings.ToLower(str))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q (want bytes or a number with k, m or g)", str)
	}
	return n * mult, nil
}
