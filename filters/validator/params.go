package validator

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/validator/schema"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// kinds of JSON values a parameter's schema accepts (from its "type")
type kinds uint8

const (
	kNull kinds = 1 << iota
	kBool
	kNumber
	kString
	kArray
	kObject
	kAny = kNull | kBool | kNumber | kString | kArray | kObject
)

type paramSpec struct {
	name      string
	in        byte // 'q' query, 'h' header, 'p' path
	required  bool
	style     string
	explode   bool
	s         *schema.Schema
	kinds     kinds
	itemKinds kinds
	props     map[string]kinds
	propNames []string
	pathIdx   int
	label     string // "query 'limit'"
}

func typeKinds(v any) kinds {
	var k kinds
	add := func(s string) {
		switch s {
		case "null":
			k |= kNull
		case "boolean":
			k |= kBool
		case "number", "integer":
			k |= kNumber
		case "string":
			k |= kString
		case "array":
			k |= kArray
		case "object":
			k |= kObject
		}
	}
	switch t := v.(type) {
	case string:
		add(t)
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				add(s)
			}
		}
	}
	if k == 0 {
		return kString // no type: the value stays a string
	}
	return k
}

var validStyles = map[byte][]string{
	'q': {"form", "spaceDelimited", "pipeDelimited", "deepObject"},
	'h': {"simple"},
	'p': {"simple"},
}

// compileParams builds the parameter specs; problems are recorded on n.
func compileParams(n confnode.Node, cfg *Config, tmpl *pathTemplate) []*paramSpec {
	var out []*paramSpec
	seen := map[string]bool{}
	for i, pc := range cfg.ParameterSchema {
		pn := n.Field("parameter_schema").Index(i)
		p := &paramSpec{name: pc.Name, required: pc.Required, style: pc.Style}
		if pc.Name == "" {
			pn.FieldErrorf("name", "is required")
			continue
		}
		switch pc.In {
		case "query":
			p.in = 'q'
		case "header":
			p.in = 'h'
			p.name = strings.ToLower(pc.Name)
		case "path":
			p.in = 'p'
		default:
			pn.FieldErrorf("in", "must be query, header or path (got %q)", pc.In)
			continue
		}
		key := pc.In + "\x00" + p.name
		if seen[key] {
			pn.FieldErrorf("name", "duplicate %s parameter %q", pc.In, pc.Name)
			continue
		}
		seen[key] = true
		p.label = pc.In + " '" + pc.Name + "'"
		if p.style == "" {
			p.style = validStyles[p.in][0]
		}
		ok := false
		for _, s := range validStyles[p.in] {
			ok = ok || s == p.style
		}
		if !ok {
			pn.FieldErrorf("style", "%s parameters support style %s (got %q)", pc.In, strings.Join(validStyles[p.in], ", "), pc.Style)
			continue
		}
		p.explode = p.style == "form"
		if pc.Explode != nil {
			p.explode = *pc.Explode
		}
		if p.in == 'p' {
			p.pathIdx = tmpl.index(pc.Name)
			if p.pathIdx < 0 {
				if tmpl == nil || len(tmpl.segs) == 0 {
					pn.FieldErrorf("in", "path parameters need path_template (e.g. \"/users/{%s}\")", pc.Name)
				} else {
					pn.FieldErrorf("name", "path_template %q has no {%s}", cfg.PathTemplate, pc.Name)
				}
				continue
			}
			p.required = true // a path parameter is always present when the template matches
		}
		if !pc.Schema.set {
			pn.FieldErrorf("schema", "is required")
			continue
		}
		p.s = compileSchema(pn.Field("schema"), pc.Schema.JSON, "", schema.Draft4, cfg.MaxDepth)
		if p.s == nil {
			continue
		}
		var doc map[string]any
		if json.Unmarshal(pc.Schema.JSON, &doc) == nil {
			p.kinds = typeKinds(doc["type"])
			if it, ok := doc["items"].(map[string]any); ok {
				p.itemKinds = typeKinds(it["type"])
			} else {
				p.itemKinds = kString
			}
			if props, ok := doc["properties"].(map[string]any); ok {
				p.props = map[string]kinds{}
				for name, ps := range props {
					m, _ := ps.(map[string]any)
					p.props[name] = typeKinds(m["type"])
					p.propNames = append(p.propNames, name)
				}
			}
		} else {
			p.kinds = kString
		}
		if p.style == "deepObject" && p.kinds&kObject == 0 {
			pn.FieldErrorf("style", "deepObject needs a schema of type object")
			continue
		}
		out = append(out, p)
	}
	return out
}

// pathTemplate is a parsed path_template.
type pathTemplate struct {
	segs  []string // literal segment, or "{name}"
	names []string // capture name per segment ("" for literals)
}

func parsePathTemplate(n confnode.Node, s string) *pathTemplate {
	if s == "" {
		return nil
	}
	if s[0] != '/' {
		n.FieldErrorf("path_template", "must start with /")
		return nil
	}
	t := &pathTemplate{}
	for _, seg := range strings.Split(s[1:], "/") {
		name := ""
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			name = seg[1 : len(seg)-1]
			if name == "" || strings.ContainsAny(name, "{}") {
				n.FieldErrorf("path_template", "bad segment %q", seg)
				return nil
			}
		} else if strings.ContainsAny(seg, "{}") {
			n.FieldErrorf("path_template", "a parameter must be a whole segment: %q", seg)
			return nil
		}
		t.segs = append(t.segs, seg)
		t.names = append(t.names, name)
	}
	if len(t.segs) > maxSegs {
		n.FieldErrorf("path_template", "more than %d segments", maxSegs)
		return nil
	}
	return t
}

const maxSegs = 32

func (t *pathTemplate) index(name string) int {
	if t == nil {
		return -1
	}
	for i, n := range t.names {
		if n == name {
			return i
		}
	}
	return -1
}

// match splits path into segments matching t; offs receives the segment
// bounds. It reports whether the path matches the template.
func (t *pathTemplate) match(path []byte, offs *[maxSegs][2]int) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	i, k := 1, 0
	for {
		j := i
		for j < len(path) && path[j] != '/' {
			j++
		}
		if k >= len(t.segs) {
			return false
		}
		seg := path[i:j]
		if t.names[k] == "" && string(seg) != t.segs[k] {
			return false
		}
		if t.names[k] != "" && len(seg) == 0 {
			return false
		}
		offs[k] = [2]int{i, j}
		k++
		if j == len(path) {
			return k == len(t.segs)
		}
		i = j + 1
	}
}

// --- building the JSON value of a parameter ---

// appendJSONString appends b as a JSON string (invalid UTF-8 becomes
// U+FFFD).
func appendJSONString(dst, b []byte) []byte {
	if len(b) == 0 {
		return append(dst, '"', '"')
	}
	// a read-only view: appendJSONStr does not keep it
	return appendJSONStr(dst, unsafe.String(&b[0], len(b)))
}

// appendJSONStr is appendJSONString for a string.
func appendJSONStr(dst []byte, b string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, b[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func isNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return false
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return false
		}
	}
	return i == len(b)
}

// coerce appends the JSON form of the string value v for a schema that
// accepts k: a number when it parses as one, true/false, null, else a
// string (which then fails a non-string type with the schema's message).
func coerce(dst, v []byte, k kinds) []byte {
	switch {
	case k&kNumber != 0 && isNumber(v):
		return append(dst, v...)
	case k&kBool != 0 && (string(v) == "true" || string(v) == "false"):
		return append(dst, v...)
	case k&kNull != 0 && (string(v) == "null" || (len(v) == 0 && k&kString == 0)):
		return append(dst, "null"...)
	}
	return appendJSONString(dst, v)
}

func splitNext(v []byte, sep byte) (part, rest []byte, more bool) {
	for i, c := range v {
		if c == sep {
			return v[:i], v[i+1:], true
		}
	}
	return v, nil, false
}

func (p *paramSpec) sep() byte {
	switch p.style {
	case "spaceDelimited":
		return ' '
	case "pipeDelimited":
		return '|'
	}
	return ','
}

// appendArray appends the elements of one serialised value as array items.
func (p *paramSpec) appendItems(dst, v []byte, first bool) []byte {
	if len(v) == 0 {
		return dst
	}
	for more := true; more; {
		var part []byte
		part, v, more = splitNext(v, p.sep())
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = coerce(dst, part, p.itemKinds)
	}
	return dst
}

func (p *paramSpec) propKinds(name []byte) kinds {
	if k, ok := p.props[string(name)]; ok {
		return k
	}
	return kString
}

// appendObject appends a serialised object: "k,v,k,v" or (explode) "k=v,k=v".
func (p *paramSpec) appendObject(dst, v []byte) []byte {
	dst = append(dst, '{')
	first := true
	for more := len(v) > 0; more; {
		var k, val []byte
		if p.explode {
			var part []byte
			part, v, more = splitNext(v, ',')
			k, val, _ = splitNext(part, '=')
		} else {
			k, v, more = splitNext(v, ',')
			if more {
				val, v, more = splitNext(v, ',')
			}
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = coerce(dst, val, p.propKinds(k))
	}
	return append(dst, '}')
}

// build appends the JSON document of the parameter to dst and reports
// whether the parameter was present.
func (p *paramSpec) build(dst []byte, c *filters.Ctx, path []byte, offs *[maxSegs][2]int) ([]byte, bool) {
	req := &c.RC.Request
	var v []byte
	switch p.in {
	case 'h':
		v = req.Header.Peek(p.name)
		if v == nil {
			return dst, false
		}
	case 'p':
		o := offs[p.pathIdx]
		v = path[o[0]:o[1]]
	case 'q':
		args := c.URI().QueryArgs()
		switch {
		case p.kinds&kArray != 0 && p.explode && p.style == "form":
			found := false
			dst = append(dst, '[')
			for k, val := range args.All() {
				if string(k) == p.name {
					dst = p.appendItems(dst, val, !found)
					found = true
				}
			}
			return append(dst, ']'), found
		case p.kinds&kObject != 0 && p.style == "deepObject":
			found := false
			dst = append(dst, '{')
			for k, val := range args.All() {
				if len(k) > len(p.name)+2 && string(k[:len(p.name)]) == p.name && k[len(p.name)] == '[' && k[len(k)-1] == ']' {
					prop := k[len(p.name)+1 : len(k)-1]
					if found {
						dst = append(dst, ',')
					}
					found = true
					dst = appendJSONString(dst, prop)
					dst = append(dst, ':')
					dst = coerce(dst, val, p.propKinds(prop))
				}
			}
			return append(dst, '}'), found
		case p.kinds&kObject != 0 && p.explode && p.style == "form":
			found := false
			dst = append(dst, '{')
			for k, val := range args.All() {
				if _, ok := p.props[string(k)]; ok {
					if found {
						dst = append(dst, ',')
					}
					found = true
					dst = appendJSONString(dst, k)
					dst = append(dst, ':')
					dst = coerce(dst, val, p.propKinds(k))
				}
			}
			return append(dst, '}'), found
		}
		if !args.Has(p.name) {
			return dst, false
		}
		v = args.Peek(p.name)
	}
	switch {
	case p.kinds&kArray != 0 && p.kinds&kObject == 0:
		dst = append(dst, '[')
		dst = p.appendItems(dst, v, true)
		return append(dst, ']'), true
	case p.kinds&kObject != 0 && p.kinds&kArray == 0:
		return p.appendObject(dst, v), true
	}
	return coerce(dst, v, p.kinds), true
}

func (p *paramSpec) String() string { return fmt.Sprintf("%s (%s)", p.label, p.style) }
