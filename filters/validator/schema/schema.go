package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// DefaultMaxDepth is the nesting limit for validated documents when
// Options.MaxDepth is 0.
const DefaultMaxDepth = 128

// FormatMode says whether `format` is asserted.
type FormatMode uint8

const (
	// FormatDefault follows the drafts: asserted up to draft 7, an
	// annotation only in 2019-09 and 2020-12.
	FormatDefault FormatMode = iota
	// FormatAssert always asserts the known formats (what a gateway
	// wants: the article's "format": "email" must reject "x").
	FormatAssert
)

// Options configure Compile. The zero value is usable.
type Options struct {
	// DefaultDraft is the dialect of a schema without $schema (zero:
	// DefaultDraft, 2020-12). A $schema in the document always wins.
	DefaultDraft Draft
	// Formats selects format assertion.
	Formats FormatMode
	// MaxDepth limits the nesting of validated documents (0:
	// DefaultMaxDepth). Deeper documents are malformed input.
	MaxDepth int
	// LoadRemote returns the document at url for a $ref to another
	// document. Nil refuses every such $ref (the schema then fails to
	// compile): nothing is fetched from the network or the file system.
	LoadRemote func(url string) ([]byte, error)
	// ForceFallback compiles only the fallback validator (tests and
	// benchmarks).
	ForceFallback bool
}

// Schema is a compiled JSON Schema. It is immutable and safe for
// concurrent use.
type Schema struct {
	draft    Draft
	fast     vfn
	fallback *jsonschema.Schema
	reason   string
	warnings []string
	maxDepth int
	perByte  int
}

// Kind classifies a validation result.
type Kind uint8

const (
	// Valid: the document conforms.
	Valid Kind = iota
	// Malformed: the document is not acceptable JSON (syntax, invalid
	// UTF-8, lone surrogates, duplicate keys, trailing data, nesting
	// beyond MaxDepth).
	Malformed
	// Invalid: well-formed JSON that does not conform to the schema (or
	// whose validation exceeded the work budget: Keyword "$budget").
	Invalid
)

// Result describes the first problem found. Reuse one Result across calls
// to avoid allocations; Check resets it.
type Result struct {
	Kind Kind
	// Keyword is the failing schema keyword ("required", "type", ...),
	// empty for Malformed.
	Keyword string
	// Path is the JSON pointer of the failing value ("/items/0/name";
	// empty for the document root).
	Path []byte
	// Message is a short human-readable description.
	Message []byte
	// Offset is the byte offset of a syntax problem (Malformed).
	Offset int
}

func (r *Result) reset() {
	r.Kind, r.Keyword, r.Offset = Valid, "", 0
	r.Path = r.Path[:0]
	r.Message = r.Message[:0]
}

// Error is the error form of a failed Result (see Schema.Validate).
type Error struct {
	Kind    Kind
	Keyword string
	Path    string
	Message string
	Offset  int
}

func (e *Error) Error() string {
	if e.Kind == Malformed {
		return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Message)
	}
	p := e.Path
	if p == "" {
		p = "/"
	}
	return fmt.Sprintf("%s: %s: %s", p, e.Keyword, e.Message)
}

const baseURL = "urn:edgeguard:body-schema"

// Compile compiles a JSON Schema document. The document itself must be
// strict JSON (no duplicate keys). Every schema is checked against its
// draft's meta-schema by the reference implementation; a schema whose
// keywords the fast path covers is then compiled into closures, any other
// is validated by the reference implementation (see FallbackReason).
func Compile(src []byte, opt Options) (*Schema, error) {
	if opt.MaxDepth <= 0 {
		opt.MaxDepth = DefaultMaxDepth
	}
	st := acquireState(src, 512, 1<<62)
	i := skipWS(src, 0)
	end := st.skip(i)
	if end >= 0 && skipWS(src, end) != len(src) {
		end = st.syntax(skipWS(src, end), "unexpected data after the schema")
	}
	if end < 0 {
		err := fmt.Errorf("schema is not valid JSON: %s at offset %d", st.errMsg, st.errPos)
		releaseState(st)
		return nil, err
	}
	releaseState(st)
	doc, err := decodeJSON(src)
	if err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	customMeta := ""
	draft := opt.DefaultDraft
	if draft == 0 {
		draft = DefaultDraft
	}
	if m, ok := doc.(map[string]any); ok {
		if v, ok := m["$schema"]; ok {
			s, _ := v.(string)
			d, ok := DraftFromSchemaURI(s)
			switch {
			case ok:
				draft = d
			case opt.LoadRemote == nil:
				return nil, fmt.Errorf("$schema %q is not a supported draft (draft-04, -06, -07, 2019-09, 2020-12)", s)
			default:
				// a custom meta-schema (vocabularies): the fallback loads it
				opt.ForceFallback = true
				customMeta = s
			}
		}
	}
	assert := opt.Formats == FormatAssert || draft <= Draft7
	s := &Schema{draft: draft, maxDepth: opt.MaxDepth}

	c := jsonschema.NewCompiler()
	c.DefaultDraft(refDraft(draft))
	if assert {
		c.AssertFormat()
	}
	c.UseRegexpEngine(func(p string) (jsonschema.Regexp, error) { return CompilePattern(p) })
	for name, f := range formatFuncs {
		c.RegisterFormat(&jsonschema.Format{Name: name, Validate: formatValidator(name, f)})
	}
	c.UseLoader(remoteLoader{opt.LoadRemote})
	if err := c.AddResource(baseURL, doc); err != nil {
		return nil, err
	}
	fb, err := c.Compile(baseURL)
	if err != nil {
		return nil, cleanCompileError(err)
	}
	s.fallback = fb
	if opt.ForceFallback {
		s.reason = "fallback forced"
		if customMeta != "" {
			s.reason = "custom meta-schema " + customMeta
		}
		return s, nil
	}
	fn, nodes, warns, err := compileFast(doc, draft, assert)
	var fe *fallbackError
	switch {
	case errors.As(err, &fe):
		s.reason = fe.reason
	case err != nil:
		return nil, err
	default:
		s.fast = fn
		s.warnings = warns
		s.perByte = 4*nodes + 16
	}
	return s, nil
}

func refDraft(d Draft) *jsonschema.Draft {
	switch d {
	case Draft4:
		return jsonschema.Draft4
	case Draft6:
		return jsonschema.Draft6
	case Draft7:
		return jsonschema.Draft7
	case Draft2019:
		return jsonschema.Draft2019
	}
	return jsonschema.Draft2020
}

func cleanCompileError(err error) error {
	msg := strings.ReplaceAll(err.Error(), baseURL, "")
	return errors.New(strings.TrimSpace(msg))
}

func formatValidator(name string, f func([]byte) bool) func(any) error {
	return func(v any) error {
		s, ok := v.(string)
		if !ok || f([]byte(s)) {
			return nil
		}
		return fmt.Errorf("not a valid %s", name)
	}
}

type remoteLoader struct {
	load func(string) ([]byte, error)
}

func (l remoteLoader) Load(url string) (any, error) {
	if l.load == nil {
		return nil, fmt.Errorf("$ref to %s: references to other documents are not allowed", url)
	}
	b, err := l.load(url)
	if err != nil {
		return nil, err
	}
	return decodeJSON(b)
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("unexpected data after the top-level value")
	}
	return v, nil
}

// Draft returns the dialect the schema was compiled with.
func (s *Schema) Draft() Draft { return s.draft }

// Fast reports whether the schema runs on the compiled fast path.
func (s *Schema) Fast() bool { return s.fast != nil }

// FallbackReason says why the schema runs on the fallback (empty when
// Fast).
func (s *Schema) FallbackReason() string { return s.reason }

// Warnings lists what the compiler ignored: keywords unknown to the draft
// and unknown formats (the drafts say to ignore them; a typo such as
// "minLenght" shows up here).
func (s *Schema) Warnings() []string { return s.warnings }

// Validate validates doc and returns nil or an *Error.
func (s *Schema) Validate(doc []byte) error {
	var r Result
	if s.Check(doc, &r) {
		return nil
	}
	return &Error{Kind: r.Kind, Keyword: r.Keyword, Path: string(r.Path), Message: string(r.Message), Offset: r.Offset}
}

// Check validates doc (the raw bytes of one JSON text) and reports whether
// it is valid; otherwise r describes the first problem. On the fast path a
// valid document costs one scan and no allocation; the bytes of doc are not
// retained.
func (s *Schema) Check(doc []byte, r *Result) bool {
	r.reset()
	if s.fast == nil {
		return s.checkFallback(doc, r)
	}
	steps := s.perByte * (len(doc) + 64)
	st := acquireState(doc, s.maxDepth, steps)
	defer releaseState(st)
	i := skipWS(doc, 0)
	end := s.fast(st, i)
	if end >= 0 {
		if j := skipWS(doc, end); j != len(doc) {
			st.syntax(j, "unexpected data after the top-level value")
		} else {
			return true
		}
	} else if !st.fatal {
		// A schema failure can stop before the end: the whole document
		// must still be well-formed JSON, else that is the answer.
		st.depth = 0
		if e := st.skip(i); e >= 0 {
			if j := skipWS(doc, e); j != len(doc) {
				st.syntax(j, "unexpected data after the top-level value")
			}
		}
	}
	st.result(r)
	return false
}

func (st *state) result(r *Result) {
	switch {
	case st.fatal && st.errKw == "":
		r.Kind = Malformed
		r.Offset = st.errPos
	default:
		r.Kind = Invalid
		r.Keyword = st.errKw
		r.Path = st.appendPath(r.Path[:0])
	}
	r.Message = append(r.Message[:0], st.errMsg...)
}

// Fallback limits: the reference implementation converts numbers to
// big.Rat, whose cost grows with the digits and the exponent (1e1000000
// takes 60 ms, 1e10000000 fails). The fallback path therefore refuses
// numbers beyond these bounds as Invalid (keyword "$limit"); the fast path
// is exact for any number.
const (
	fallbackMaxDigits = 1000
	fallbackMaxExp    = 400
)

var printer = message.NewPrinter(language.English)

func (s *Schema) checkFallback(doc []byte, r *Result) bool {
	st := acquireState(doc, s.maxDepth, 1<<62)
	i := skipWS(doc, 0)
	end := st.skip(i)
	if end >= 0 {
		if j := skipWS(doc, end); j != len(doc) {
			st.syntax(j, "unexpected data after the top-level value")
		}
	}
	if st.fatal {
		st.result(r)
		releaseState(st)
		return false
	}
	releaseState(st)
	if _, at, huge := findHugeNumber(doc, skipWS(doc, 0), r.Path[:0]); huge {
		r.Kind, r.Keyword, r.Path = Invalid, "$limit", at
		r.Message = append(r.Message[:0], "number too large to validate"...)
		return false
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		r.Kind = Malformed
		r.Message = append(r.Message[:0], err.Error()...)
		return false
	}
	err = s.fallback.Validate(v)
	if err == nil {
		return true
	}
	r.Kind = Invalid
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		r.Keyword = "$error"
		r.Message = append(r.Message[:0], err.Error()...)
		return false
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	kp := ve.ErrorKind.KeywordPath()
	if len(kp) > 0 {
		r.Keyword = kp[len(kp)-1]
	}
	for _, tok := range ve.InstanceLocation {
		r.Path = append(r.Path, '/')
		r.Path = append(r.Path, strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")...)
	}
	r.Message = append(r.Message[:0], ve.ErrorKind.LocalizedString(printer)...)
	return false
}

// numbersWithin reports whether every number token of the (well-formed)
// doc is within the fallback limits.
func numbersWithin(d []byte) bool {
	_, _, huge := findHugeNumber(d, skipWS(d, 0), nil)
	return !huge
}

// findHugeNumber walks the well-formed value at d[i] (its nesting already
// bounded by the syntax check) and reports whether it holds a number
// beyond the fallback limits; at is then path with the JSON pointer of the
// first such number appended. end is the end of the value.
func findHugeNumber(d []byte, i int, path []byte) (end int, at []byte, huge bool) {
	switch c := d[i]; {
	case c == '{' || c == '[':
		n, idx := len(path), 0
		i = skipWS(d, i+1)
		for d[i] != '}' && d[i] != ']' {
			path = path[:n]
			if c == '{' {
				k := skipTrusted(d, i)
				path = appendPointerToken(path, d[i+1:k-1])
				i = skipWS(d, skipWS(d, k)+1) // past ':'
			} else {
				path = strconv.AppendInt(append(path, '/'), int64(idx), 10)
				idx++
			}
			if i, path, huge = findHugeNumber(d, i, path); huge {
				return i, path, true
			}
			if i = skipWS(d, i); d[i] == ',' {
				i = skipWS(d, i+1)
			}
		}
		return i + 1, path[:n], false
	case c == '-' || c >= '0' && c <= '9':
		end := skipTrusted(d, i)
		return end, path, !numberWithin(d[i:end])
	}
	return skipTrusted(d, i), path, false
}

// appendPointerToken appends "/" and the raw object key (string contents
// with JSON escapes) as a JSON pointer token.
func appendPointerToken(dst, raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') >= 0 {
		raw = appendUnescaped(nil, raw)
	}
	return appendPointerEscaped(append(dst, '/'), raw)
}

// appendPointerEscaped appends key, unescaped, as the text of a JSON
// pointer token: "~" as "~0", "/" as "~1" (RFC 6901).
func appendPointerEscaped(dst, key []byte) []byte {
	for _, c := range key {
		switch c {
		case '~':
			dst = append(dst, '~', '0')
		case '/':
			dst = append(dst, '~', '1')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// numberWithin reports whether one number token is within the fallback
// limits.
func numberWithin(tok []byte) bool {
	if len(tok) > fallbackMaxDigits {
		return false
	}
	// the raw exponent counts too: big.Rat expands 0e99999999
	if k := bytes.IndexAny(tok, "eE"); k >= 0 {
		e := tok[k+1:]
		if len(e) > 0 && (e[0] == '+' || e[0] == '-') {
			e = e[1:]
		}
		for len(e) > 1 && e[0] == '0' {
			e = e[1:]
		}
		if len(e) > 4 {
			return false
		}
		v := 0
		for _, c := range e {
			v = v*10 + int(c-'0')
		}
		if v > fallbackMaxExp {
			return false
		}
	}
	x := parseNum(tok)
	return x.exp <= fallbackMaxExp && x.exp >= -fallbackMaxExp
}
