package jose

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a small strict JSON scanner written for the token hot path.
// It is hand-written on purpose (see the package doc): a token's header and
// claims are validated once with ValidObject, and afterwards single claims
// are looked up lazily in the raw bytes without building a tree and without
// allocating. One scanner serves both the checks and the values forwarded
// upstream, so the two can never disagree about what a claim says (no
// parser differential), and duplicate member names are rejected outright.
// It is fuzzed against encoding/json (FuzzJSON).

// Kind is the type of a JSON value.
type Kind uint8

// Kinds of JSON values. Invalid means absent or malformed.
const (
	Invalid Kind = iota
	String
	Number
	Object
	Array
	True
	False
	Null
)

// MaxDepth is the deepest nesting of objects and arrays ValidObject accepts.
const MaxDepth = 32

// maxMembers bounds the member names remembered for duplicate detection over
// the whole document (open objects keep theirs on a stack).
const maxMembers = 1024

// Errors of ValidObject.
var (
	ErrJSONSyntax    = errors.New("jose: invalid JSON")
	ErrJSONNotObject = errors.New("jose: JSON value is not an object")
	ErrJSONDepth     = errors.New("jose: JSON nested too deeply")
	ErrJSONDuplicate = errors.New("jose: duplicate JSON member name")
	ErrJSONTooLarge  = errors.New("jose: JSON object has too many members")
)

type span struct {
	start, end int32
	esc        bool // the name has an escape: compare decoded
}

// validator checks one document. names holds the raw (still escaped) member
// names of the open objects, innermost last.
type validator struct {
	b     []byte
	names [maxMembers]span
	top   int
}

// ValidObject reports whether b is exactly one JSON object (RFC 8259, UTF-8,
// surrounding whitespace allowed) whose objects have no duplicate member
// names (compared after unescaping) and whose nesting is at most MaxDepth.
// It does not allocate.
func ValidObject(b []byte) error {
	var v validator
	v.b = b
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		if i < len(b) && valueStart(b[i]) {
			return ErrJSONNotObject
		}
		return ErrJSONSyntax
	}
	end, err := v.value(i, 0)
	if err != nil {
		return err
	}
	if skipWS(b, end) != len(b) {
		return ErrJSONSyntax
	}
	return nil
}

func valueStart(c byte) bool {
	switch c {
	case '"', '[', '-', 't', 'f', 'n':
		return true
	}
	return c >= '0' && c <= '9'
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value validates the value starting at b[i] and returns the index after it.
func (v *validator) value(i, depth int) (int, error) {
	b := v.b
	if i >= len(b) {
		return 0, ErrJSONSyntax
	}
	switch c := b[i]; {
	case c == '{':
		return v.object(i, depth+1)
	case c == '[':
		return v.array(i, depth+1)
	case c == '"':
		return scanString(b, i, true)
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	}
	return 0, ErrJSONSyntax
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, ErrJSONSyntax
	}
	return i + len(lit), nil
}

func (v *validator) object(i, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, ErrJSONDepth
	}
	b := v.b
	base := v.top
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, ErrJSONSyntax
		}
		end, err := scanString(b, i, true)
		if err != nil {
			return 0, err
		}
		name := span{int32(i), int32(end), hasBackslash(b[i:end])}
		nb := b[name.start:name.end]
		for k := base; k < v.top; k++ {
			o := v.names[k]
			if !o.esc && !name.esc {
				if int(o.end-o.start) == len(nb) && string(b[o.start:o.end]) == string(nb) {
					return 0, ErrJSONDuplicate
				}
			} else if rawStringsEqual(b[o.start:o.end], nb) {
				return 0, ErrJSONDuplicate
			}
		}
		if v.top == len(v.names) {
			return 0, ErrJSONTooLarge
		}
		v.names[v.top] = name
		v.top++
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, ErrJSONSyntax
		}
		i, err = v.value(skipWS(b, i+1), depth)
		if err != nil {
			return 0, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return 0, ErrJSONSyntax
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			v.top = base // the names of a closed object are forgotten
			return i + 1, nil
		default:
			return 0, ErrJSONSyntax
		}
	}
}

func (v *validator) array(i, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, ErrJSONDepth
	}
	b := v.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		i, err = v.value(i, depth)
		if err != nil {
			return 0, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return 0, ErrJSONSyntax
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, ErrJSONSyntax
		}
	}
}

// scanString returns the index after the string that starts at b[i] (a
// quote). With strict it checks escapes, control characters and UTF-8.
func scanString(b []byte, i int, strict bool) (int, error) {
	i++
	if !strict {
		return skipString(b, i)
	}
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return 0, ErrJSONSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || (strict && !isHex4(b[i+2:i+6])) {
					return 0, ErrJSONSyntax
				}
				i += 6
			default:
				return 0, ErrJSONSyntax
			}
		case c < 0x20:
			return 0, ErrJSONSyntax
		case c < utf8.RuneSelf || !strict:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, ErrJSONSyntax
			}
			i += size
		}
	}
	return 0, ErrJSONSyntax
}

// skipString finds the end of a string whose content starts at b[i] in a
// document already validated, with SIMD byte search (bytes.IndexByte): the
// lazy lookups spend most of their time here.
func skipString(b []byte, i int) (int, error) {
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return 0, ErrJSONSyntax
		}
		k := bytes.IndexByte(b[i:i+j], '\\')
		if k < 0 {
			return i + j + 1, nil
		}
		i += k + 2 // skip the escape and the escaped byte; \uXXXX's hex digits hold no quote
		if i > len(b) {
			return 0, ErrJSONSyntax
		}
	}
}

func isHex4(h []byte) bool {
	for _, c := range h {
		if hexVal(c) < 0 {
			return false
		}
	}
	return true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func scanNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, ErrJSONSyntax
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return 0, ErrJSONSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return 0, ErrJSONSyntax
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return 0, ErrJSONSyntax
		}
	}
	return i, nil
}

// nextRune decodes one character of the content of a JSON string (quotes
// excluded) at s[i], resolving escapes; surrogate pairs are combined and a
// lone surrogate becomes U+FFFD, as encoding/json does.
func nextRune(s []byte, i int) (rune, int) {
	c := s[i]
	if c != '\\' {
		if c < utf8.RuneSelf {
			return rune(c), i + 1
		}
		r, size := utf8.DecodeRune(s[i:])
		return r, i + size
	}
	if i+1 >= len(s) {
		return utf8.RuneError, len(s)
	}
	switch s[i+1] {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
		r := hex4(s, i+2)
		if r < 0 {
			return utf8.RuneError, min(i+6, len(s))
		}
		if utf16.IsSurrogate(r) {
			if i+12 <= len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
				if r2 := hex4(s, i+8); r2 >= 0 {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						return d, i + 12
					}
				}
			}
			return utf8.RuneError, i + 6
		}
		return r, i + 6
	default: // '"', '\\', '/'
		return rune(s[i+1]), i + 2
	}
}

func hex4(s []byte, i int) rune {
	if i+4 > len(s) {
		return -1
	}
	var r rune
	for _, c := range s[i : i+4] {
		h := hexVal(c)
		if h < 0 {
			return -1
		}
		r = r<<4 | rune(h)
	}
	return r
}

// rawStringsEqual compares two raw JSON strings (quotes included) by their
// decoded content.
func rawStringsEqual(a, b []byte) bool {
	a, b = a[1:len(a)-1], b[1:len(b)-1]
	if !hasBackslash(a) && !hasBackslash(b) {
		return string(a) == string(b)
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		var ra, rb rune
		ra, i = nextRune(a, i)
		rb, j = nextRune(b, j)
		if ra != rb {
			return false
		}
	}
	return i == len(a) && j == len(b)
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// StringEqual reports whether raw, a JSON string with its quotes, decodes to s.
func StringEqual(raw []byte, s string) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	c := raw[1 : len(raw)-1]
	// An escape is always longer than what it decodes to, so a string
	// with one decodes to fewer bytes than it has: the lengths settle most
	// comparisons (member names, looked up on every request) before any
	// scan for a backslash.
	switch {
	case len(c) < len(s):
		return false
	case len(c) == len(s):
		return string(c) == s && !hasBackslash(c)
	case !hasBackslash(c):
		return false
	}
	var buf [utf8.UTFMax]byte
	i, j := 0, 0
	for i < len(c) {
		var r rune
		r, i = nextRune(c, i)
		n := utf8.EncodeRune(buf[:], r)
		if j+n > len(s) || string(buf[:n]) != s[j:j+n] {
			return false
		}
		j += n
	}
	return j == len(s)
}

// AppendString appends the decoded content of raw, a JSON string with its
// quotes, to dst.
func AppendString(dst, raw []byte) []byte {
	if len(raw) < 2 {
		return dst
	}
	c := raw[1 : len(raw)-1]
	if !hasBackslash(c) {
		return append(dst, c...)
	}
	for i := 0; i < len(c); {
		var r rune
		r, i = nextRune(c, i)
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// skipValue returns the index after the value at b[i] in a document that
// passed ValidObject, or -1 on malformed input (it never panics).
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, err := scanString(b, i, false)
		if err != nil {
			return -1
		}
		return end
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, err := scanString(b, i, false)
				if err != nil {
					return -1
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

func kindOf(c byte) Kind {
	switch c {
	case '"':
		return String
	case '{':
		return Object
	case '[':
		return Array
	case 't':
		return True
	case 'f':
		return False
	case 'n':
		return Null
	}
	if c == '-' || c >= '0' && c <= '9' {
		return Number
	}
	return Invalid
}

// Members iterates over the members of a JSON object that passed
// ValidObject, without allocating:
//
//	var it jose.Members
//	for it.Reset(obj); it.Next(); {
//		use(it.Name, it.Value, it.Kind)
//	}
type Members struct {
	b []byte
	i int
	// Name is the raw member name with its quotes (see StringEqual).
	Name []byte
	// Value is the raw value and Kind its type.
	Value []byte
	Kind  Kind
}

// Reset starts iterating over obj.
func (m *Members) Reset(obj []byte) {
	m.b, m.i = obj, openAt(obj, '{')
}

// Next moves to the next member and reports whether there is one.
func (m *Members) Next() bool {
	b := m.b
	i := skipWS(b, m.i)
	if i < len(b) && b[i] == ',' {
		i = skipWS(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		m.i = len(b)
		return false
	}
	end, err := scanString(b, i, false)
	if err != nil {
		m.i = len(b)
		return false
	}
	m.Name = b[i:end]
	i = skipWS(b, end)
	if i >= len(b) || b[i] != ':' {
		m.i = len(b)
		return false
	}
	i = skipWS(b, i+1)
	end = skipValue(b, i)
	if end < 0 {
		m.i = len(b)
		return false
	}
	m.Value, m.Kind = b[i:end], kindOf(b[i])
	m.i = end
	return true
}

// Member returns the value of the member called name of obj (a JSON object
// that passed ValidObject) and its kind; Invalid when there is none.
func Member(obj []byte, name string) ([]byte, Kind) {
	var it Members
	for it.Reset(obj); it.Next(); {
		if StringEqual(it.Name, name) {
			return it.Value, it.Kind
		}
	}
	return nil, Invalid
}

// Lookup finds the value at a dotted path such as "realm_access.roles" in obj
// (a JSON object that passed ValidObject). At each level a member named by
// the whole remaining path wins, so claim names that contain dots
// ("https://example.com/roles") are found as they are; otherwise the path is
// split at each dot in turn and the part before it must name an object.
// It does not allocate.
func Lookup(obj []byte, path string) ([]byte, Kind) {
	// One pass: a member named path wins; members named like a dotted
	// prefix of path and holding objects are remembered, shortest first
	// (names are unique, so one per prefix length).
	var cands [8]cand
	n := 0
	var it Members
	for it.Reset(obj); it.Next(); {
		if StringEqual(it.Name, path) {
			return it.Value, it.Kind
		}
		if it.Kind != Object || n == len(cands) {
			continue
		}
		if dot := dottedPrefix(it.Name, path); dot > 0 {
			cands[n] = cand{dot, it.Value}
			n++
		}
	}
	return descend(cands[:n], path)
}

// cand is an object member named like a prefix of a dotted path, up to the
// dot at dot.
type cand struct {
	dot int
	v   []byte
}

// descend looks up the rest of path in each candidate object, shortest
// prefix first.
func descend(cands []cand, path string) ([]byte, Kind) {
	for i := 1; i < len(cands); i++ { // few candidates: insertion sort by dot position
		for j := i; j > 0 && cands[j].dot < cands[j-1].dot; j-- {
			cands[j], cands[j-1] = cands[j-1], cands[j]
		}
	}
	for _, c := range cands {
		if v, k := Lookup(c.v, path[c.dot+1:]); k != Invalid {
			return v, k
		}
	}
	return nil, Invalid
}

// IndexedMember is one member of an object: its raw name with the quotes
// (see StringEqual), its raw value and the value's kind.
type IndexedMember struct {
	Name, Value []byte
	Kind        Kind
}

// Index holds the top-level members of an object, for repeated lookups
// without parsing the object again.
type Index []IndexedMember

// NewIndex indexes obj, a JSON object that passed ValidObject.
func NewIndex(obj []byte) Index {
	var it Members
	n := 0
	for it.Reset(obj); it.Next(); {
		n++
	}
	x := make(Index, 0, n)
	for it.Reset(obj); it.Next(); {
		x = append(x, IndexedMember{it.Name, it.Value, it.Kind})
	}
	return x
}

// Lookup is Lookup on the object x indexes: its top level is read from
// the index, nested objects are parsed as Lookup does.
func (x Index) Lookup(path string) ([]byte, Kind) {
	for i := range x {
		if StringEqual(x[i].Name, path) {
			return x[i].Value, x[i].Kind
		}
	}
	if strings.IndexByte(path, '.') < 0 {
		return nil, Invalid
	}
	var cands [8]cand
	n := 0
	for i := range x {
		if x[i].Kind != Object || n == len(cands) {
			continue
		}
		if dot := dottedPrefix(x[i].Name, path); dot > 0 {
			cands[n] = cand{dot, x[i].Value}
			n++
		}
	}
	return descend(cands[:n], path)
}

// dottedPrefix returns i when the raw name decodes to path[:i] and path[i]
// is a dot, else 0.
func dottedPrefix(name []byte, path string) int {
	c := name[1 : len(name)-1]
	if !hasBackslash(c) {
		if len(c) > 0 && len(c) < len(path) && path[len(c)] == '.' && string(c) == path[:len(c)] {
			return len(c)
		}
		return 0
	}
	for i := 1; i < len(path); i++ {
		if path[i] == '.' && StringEqual(name, path[:i]) {
			return i
		}
	}
	return 0
}

// AppendText appends a value as text for a header or template: a string
// decoded and unquoted; a number, true or false as written; the elements of
// an array joined with commas (null elements skipped); an object as its raw
// JSON. Null appends nothing. Decoded strings may contain any character,
// control characters included: callers that put the result in a header
// must check it.
func AppendText(dst, raw []byte, k Kind) []byte {
	switch k {
	case String:
		return AppendString(dst, raw)
	case Number, True, False, Object:
		return append(dst, raw...)
	case Array:
		first := true
		var it Elements
		for it.Reset(raw); it.Next(); {
			if it.Kind == Null {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			if it.Kind == Array {
				dst = append(dst, it.Value...)
			} else {
				dst = AppendText(dst, it.Value, it.Kind)
			}
		}
	}
	return dst
}

// Elements iterates over the elements of a JSON array taken from a document
// that passed ValidObject, without allocating (see Members).
type Elements struct {
	b []byte
	i int
	// Value is the raw element and Kind its type.
	Value []byte
	Kind  Kind
}

// Reset starts iterating over arr.
func (e *Elements) Reset(arr []byte) {
	e.b, e.i = arr, openAt(arr, '[')
}

// openAt returns the index after the opening bracket of the container b,
// or len(b) (an empty iteration) when b does not start with it.
func openAt(b []byte, open byte) int {
	i := skipWS(b, 0)
	if i < len(b) && b[i] == open {
		return i + 1
	}
	return len(b)
}

// Next moves to the next element and reports whether there is one.
func (e *Elements) Next() bool {
	b := e.b
	i := skipWS(b, e.i)
	if i < len(b) && b[i] == ',' {
		i = skipWS(b, i+1)
	}
	if i >= len(b) || b[i] == ']' {
		e.i = len(b)
		return false
	}
	end := skipValue(b, i)
	if end < 0 {
		e.i = len(b)
		return false
	}
	e.Value, e.Kind, e.i = b[i:end], kindOf(b[i]), end
	return true
}
