package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// vfn validates the value starting at pos (no leading white space) and
// returns the index after it, or -1 after recording the failure in st.
type vfn func(st *state, pos int) int

type typeMask uint8

const (
	tNull typeMask = 1 << iota
	tBool
	tObject
	tArray
	tNumber
	tInteger
	tString
	tAll = tNull | tBool | tObject | tArray | tNumber | tInteger | tString
)

// fallbackError says why a schema cannot be compiled on the fast path.
type fallbackError struct{ reason string }

func (e *fallbackError) Error() string { return e.reason }

func needFallback(ptr, format string, args ...any) error {
	return &fallbackError{reason: fmt.Sprintf(format, args...) + " at " + ptrOrRoot(ptr)}
}

func ptrOrRoot(p string) string {
	if p == "" {
		return "#"
	}
	return "#" + p
}

type compiler struct {
	draft   Draft
	root    any
	rootID  *url.URL
	assert  bool // formats are asserted
	slots   map[string]*vfn
	done    map[string]bool
	edges   map[string][]string // same-instance applicator edges, for cycle detection
	nodes   int
	warn    []string
	warnSet map[string]bool
}

func (c *compiler) warnf(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	if !c.warnSet[w] {
		c.warnSet[w] = true
		c.warn = append(c.warn, w)
	}
}

// compileFast compiles the root schema into closures.
func compileFast(root any, d Draft, assertFormats bool) (vfn, int, []string, error) {
	c := &compiler{
		draft: d, root: root, assert: assertFormats,
		slots: map[string]*vfn{}, done: map[string]bool{}, edges: map[string][]string{},
		warnSet: map[string]bool{},
	}
	if m, ok := root.(map[string]any); ok {
		idKw := "$id"
		if d == Draft4 {
			idKw = "id"
		}
		if id, ok := m[idKw].(string); ok && !(d <= Draft7 && m["$ref"] != nil) {
			u, err := url.Parse(id)
			if err != nil {
				return nil, 0, nil, fmt.Errorf("%s: %w", idKw, err)
			}
			u.Fragment = ""
			c.rootID = u
		}
	}
	slot, err := c.at("")
	if err != nil {
		return nil, 0, nil, err
	}
	if err := c.checkCycles(); err != nil {
		return nil, 0, nil, err
	}
	sort.Strings(c.warn)
	return *slot, c.nodes, c.warn, nil
}

// at compiles the schema at JSON pointer ptr (once) and returns its slot.
func (c *compiler) at(ptr string) (*vfn, error) {
	if s, ok := c.slots[ptr]; ok {
		return s, nil
	}
	v, err := c.resolvePtr(ptr)
	if err != nil {
		return nil, err
	}
	slot := new(vfn)
	c.slots[ptr] = slot
	fn, err := c.build(ptr, v)
	if err != nil {
		return nil, err
	}
	*slot = fn
	c.done[ptr] = true
	return slot, nil
}

// call returns a function that runs the schema at ptr: the compiled
// function itself when it is already built, else an indirection through its
// slot (recursive references).
func (c *compiler) call(from, ptr string, sameInstance bool) (vfn, error) {
	if sameInstance {
		c.edges[from] = append(c.edges[from], ptr)
	}
	slot, err := c.at(ptr)
	if err != nil {
		return nil, err
	}
	if c.done[ptr] {
		return *slot, nil
	}
	return func(st *state, pos int) int { return (*slot)(st, pos) }, nil
}

func (c *compiler) sub(from, kw string, sameInstance bool) (vfn, error) {
	return c.call(from, from+"/"+escPtr(kw), sameInstance)
}

func escPtr(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// resolvePtr walks the document to ptr. A subschema on the way that sets
// its own base URI ($id) sends the schema to the fallback.
func (c *compiler) resolvePtr(ptr string) (any, error) {
	v := c.root
	if ptr == "" {
		return v, nil
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			n, ok := x[tok]
			if !ok {
				return nil, fmt.Errorf("$ref target %s does not exist", ptrOrRoot(ptr))
			}
			v = n
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("$ref target %s does not exist", ptrOrRoot(ptr))
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("$ref target %s does not exist", ptrOrRoot(ptr))
		}
		if m, ok := v.(map[string]any); ok {
			if _, ok := m[c.idKeyword()].(string); ok {
				if c.draft > Draft7 || m["$ref"] == nil {
					return nil, needFallback(ptr, "subschema with its own %s", c.idKeyword())
				}
			}
		}
	}
	return v, nil
}

func (c *compiler) idKeyword() string {
	if c.draft == Draft4 {
		return "id"
	}
	return "$id"
}

// refTarget maps a $ref value to a JSON pointer in this document.
func (c *compiler) refTarget(ptr, ref string) (string, error) {
	base, frag, _ := strings.Cut(ref, "#")
	if base != "" {
		u, err := url.Parse(ref)
		if err != nil {
			return "", fmt.Errorf("$ref %q: %w", ref, err)
		}
		if c.rootID == nil {
			return "", needFallback(ptr, "$ref %q to another document", ref)
		}
		abs := c.rootID.ResolveReference(u)
		abs.Fragment = ""
		if abs.String() != c.rootID.String() {
			return "", needFallback(ptr, "$ref %q to another document", ref)
		}
	}
	if frag == "" {
		return "", nil
	}
	if frag[0] != '/' {
		return "", needFallback(ptr, "$ref %q to an anchor", ref)
	}
	f, err := url.PathUnescape(frag)
	if err != nil {
		return "", fmt.Errorf("$ref %q: %w", ref, err)
	}
	return f, nil
}

// node is one compiled schema object.
type node struct {
	mask     typeMask
	typeName string
	obj      vfn
	arr      vfn
	str      vfn
	num      vfn
	enum     func(st *state, a, b int) bool
	enumKw   string
	enumMsg  string
	apps     []vfn
}

func (c *compiler) build(ptr string, v any) (vfn, error) {
	c.nodes++
	switch s := v.(type) {
	case bool:
		if s {
			return (*state).skip, nil
		}
		return falseSchema, nil
	case map[string]any:
		return c.buildObject(ptr, s)
	}
	return nil, fmt.Errorf("schema at %s must be an object or a boolean", ptrOrRoot(ptr))
}

func falseSchema(st *state, pos int) int {
	return st.fail("false", "no value is allowed here (false schema)")
}

func (c *compiler) buildObject(ptr string, m map[string]any) (vfn, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	_, hasRef := m["$ref"]
	for _, kw := range keys {
		if hasRef && c.draft <= Draft7 && kw != "$ref" {
			continue // siblings of $ref are ignored before 2019-09
		}
		switch classify(c.draft, kw) {
		case kwFallback:
			return nil, needFallback(ptr, "keyword %s", kw)
		case kwUnknown:
			c.warnf("unknown keyword %q ignored at %s", kw, ptrOrRoot(ptr))
		}
	}
	if hasRef {
		ref, ok := m["$ref"].(string)
		if !ok {
			return nil, fmt.Errorf("$ref at %s must be a string", ptrOrRoot(ptr))
		}
		target, err := c.refTarget(ptr, ref)
		if err != nil {
			return nil, err
		}
		rf, err := c.call(ptr, target, true)
		if err != nil {
			return nil, err
		}
		if c.draft <= Draft7 {
			return rf, nil
		}
		if len(m) == 1 {
			return rf, nil
		}
		m2 := make(map[string]any, len(m))
		for k, v := range m {
			if k != "$ref" {
				m2[k] = v
			}
		}
		n, err := c.buildNode(ptr, m2)
		if err != nil {
			return nil, err
		}
		n.apps = append([]vfn{rf}, n.apps...)
		return n.fn(), nil
	}
	n, err := c.buildNode(ptr, m)
	if err != nil {
		return nil, err
	}
	// A node that only forwards to one subschema is that subschema.
	if n.mask == tAll && n.obj == nil && n.arr == nil && n.str == nil && n.num == nil && n.enum == nil && len(n.apps) == 1 {
		if all, ok := m["allOf"].([]any); ok && len(all) == 1 {
			return n.apps[0], nil
		}
	}
	return n.fn(), nil
}

func (c *compiler) buildNode(ptr string, m map[string]any) (*node, error) {
	n := &node{mask: tAll}
	if t, ok := m["type"]; ok {
		if err := n.setType(t); err != nil {
			return nil, fmt.Errorf("type at %s: %w", ptrOrRoot(ptr), err)
		}
	}
	var err error
	if n.num, err = c.numeric(ptr, m, n.mask); err != nil {
		return nil, err
	}
	if n.str, err = c.stringKW(ptr, m); err != nil {
		return nil, err
	}
	if n.arr, err = c.arrayKW(ptr, m); err != nil {
		return nil, err
	}
	if n.obj, err = c.objectKW(ptr, m); err != nil {
		return nil, err
	}
	if err := c.enumKW(ptr, m, n); err != nil {
		return nil, err
	}
	if err := c.applicators(ptr, m, n); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *node) setType(t any) error {
	var names []string
	switch x := t.(type) {
	case string:
		names = []string{x}
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return errors.New("must be a string or an array of strings")
			}
			names = append(names, s)
		}
	default:
		return errors.New("must be a string or an array of strings")
	}
	n.mask = 0
	for _, s := range names {
		switch s {
		case "null":
			n.mask |= tNull
		case "boolean":
			n.mask |= tBool
		case "object":
			n.mask |= tObject
		case "array":
			n.mask |= tArray
		case "number":
			n.mask |= tNumber | tInteger
		case "integer":
			n.mask |= tInteger
		case "string":
			n.mask |= tString
		default:
			return fmt.Errorf("unknown type %q", s)
		}
	}
	if len(names) == 1 {
		n.typeName = names[0]
	} else {
		n.typeName = "one of [" + strings.Join(names, ", ") + "]"
	}
	return nil
}

// fn returns the closure that validates a value against the node: the
// type, the keywords of the value's kind (one scan of the value, which also
// checks its syntax), enum/const, then the applicators.
func (n *node) fn() vfn {
	mask, typeName := n.mask, n.typeName
	obj, arr, str, numf := n.obj, n.arr, n.str, n.num
	if obj == nil {
		obj = (*state).skipObject
	}
	if arr == nil {
		arr = (*state).skipArray
	}
	if str == nil {
		str = skipStr
	}
	if numf == nil {
		if mask&tNumber == 0 && mask&tInteger != 0 {
			numf = intOnly
		} else {
			numf = (*state).scanNumber
		}
	}
	enum, enumKw, enumMsg := n.enum, n.enumKw, n.enumMsg
	apps := n.apps
	return func(st *state, pos int) int {
		st.steps++
		if st.steps > st.maxSteps {
			return st.tooComplex(pos)
		}
		d := st.doc
		if pos >= len(d) {
			return st.syntax(pos, "unexpected end of JSON input")
		}
		var end int
		switch c := d[pos]; c {
		case '{':
			if mask&tObject == 0 {
				return typeFail(st, typeName, "object")
			}
			end = obj(st, pos)
		case '[':
			if mask&tArray == 0 {
				return typeFail(st, typeName, "array")
			}
			end = arr(st, pos)
		case '"':
			if mask&tString == 0 {
				return typeFail(st, typeName, "string")
			}
			end = str(st, pos)
		case 't':
			if mask&tBool == 0 {
				return typeFail(st, typeName, "boolean")
			}
			end = st.literal(pos, "true")
		case 'f':
			if mask&tBool == 0 {
				return typeFail(st, typeName, "boolean")
			}
			end = st.literal(pos, "false")
		case 'n':
			if mask&tNull == 0 {
				return typeFail(st, typeName, "null")
			}
			end = st.literal(pos, "null")
		default:
			if c != '-' && (c < '0' || c > '9') {
				return st.syntax(pos, "invalid character")
			}
			if mask&(tNumber|tInteger) == 0 {
				return typeFail(st, typeName, "number")
			}
			end = numf(st, pos)
		}
		if end < 0 {
			return -1
		}
		if enum != nil && !enum(st, pos, end) {
			return st.fail(enumKw, enumMsg)
		}
		for _, a := range apps {
			if a(st, pos) < 0 {
				return -1
			}
		}
		return end
	}
}

func typeFail(st *state, want, got string) int {
	if st.recording() {
		st.failed = true
		st.errKw = "type"
		st.errMsg = append(st.errMsg[:0], "expected "...)
		st.errMsg = append(st.errMsg, want...)
		st.errMsg = append(st.errMsg, ", but got "...)
		st.errMsg = append(st.errMsg, got...)
	}
	return -1
}

func skipStr(st *state, pos int) int {
	end, _, _ := st.scanString(pos)
	return end
}

func intOnly(st *state, pos int) int {
	end := st.scanNumber(pos)
	if end < 0 {
		return -1
	}
	x := parseNum(st.doc[pos:end])
	if !x.isInt() {
		return typeFail(st, "integer", "number")
	}
	return end
}

// --- helpers to read keyword values ---

func getNum(m map[string]any, kw string) (num, bool, error) {
	v, ok := m[kw]
	if !ok {
		return num{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return num{}, false, fmt.Errorf("%s must be a number", kw)
	}
	s := []byte(n.String())
	st := &state{doc: s, maxDepth: 1}
	if end := st.scanNumber(0); end != len(s) {
		return num{}, false, fmt.Errorf("%s: invalid number %q", kw, n)
	}
	return parseNum(s), true, nil
}

// getCount reads a non-negative integer keyword (minLength, maxItems, ...);
// -1 when absent. Values beyond int range saturate.
func getCount(m map[string]any, kw string) (int, error) {
	x, ok, err := getNum(m, kw)
	if err != nil || !ok {
		return -1, err
	}
	if !x.isInt() || x.neg {
		return -1, fmt.Errorf("%s must be a non-negative integer", kw)
	}
	if x.zero() {
		return 0, nil
	}
	if x.exp > 18 {
		return int(^uint(0) >> 1), nil
	}
	v := 0
	for i := int64(0); i < x.exp; i++ {
		dg := 0
		if int(i) < x.ndigits() {
			dg = int(x.digit(int(i)) - '0')
		}
		v = v*10 + dg
	}
	return v, nil
}

func kwErr(ptr, kw string, err error) error {
	return fmt.Errorf("%s at %s: %w", kw, ptrOrRoot(ptr), err)
}

// --- numbers ---

type bound struct {
	x    num
	excl bool
	kw   string
	src  string
}

func (c *compiler) numeric(ptr string, m map[string]any, mask typeMask) (vfn, error) {
	var lower, upper []bound
	addB := func(kw string, excl bool, list *[]bound) error {
		x, ok, err := getNum(m, kw)
		if err != nil {
			return kwErr(ptr, kw, err)
		}
		if ok {
			*list = append(*list, bound{x: x, excl: excl, kw: kw, src: string(appendNum(nil, &x))})
		}
		return nil
	}
	if c.draft == Draft4 {
		exMin, _ := m["exclusiveMinimum"].(bool)
		exMax, _ := m["exclusiveMaximum"].(bool)
		kwMin, kwMax := "minimum", "maximum"
		if exMin {
			kwMin = "exclusiveMinimum"
		}
		if exMax {
			kwMax = "exclusiveMaximum"
		}
		x, ok, err := getNum(m, "minimum")
		if err != nil {
			return nil, kwErr(ptr, "minimum", err)
		}
		if ok {
			lower = append(lower, bound{x: x, excl: exMin, kw: kwMin, src: string(appendNum(nil, &x))})
		}
		x, ok, err = getNum(m, "maximum")
		if err != nil {
			return nil, kwErr(ptr, "maximum", err)
		}
		if ok {
			upper = append(upper, bound{x: x, excl: exMax, kw: kwMax, src: string(appendNum(nil, &x))})
		}
	} else {
		if err := addB("minimum", false, &lower); err != nil {
			return nil, err
		}
		if err := addB("exclusiveMinimum", true, &lower); err != nil {
			return nil, err
		}
		if err := addB("maximum", false, &upper); err != nil {
			return nil, err
		}
		if err := addB("exclusiveMaximum", true, &upper); err != nil {
			return nil, err
		}
	}
	var dv *divisor
	var dvSrc string
	if x, ok, err := getNum(m, "multipleOf"); err != nil {
		return nil, kwErr(ptr, "multipleOf", err)
	} else if ok {
		if x.zero() || x.neg {
			return nil, kwErr(ptr, "multipleOf", errors.New("must be > 0"))
		}
		d := newDivisor(x)
		dv = &d
		dvSrc = string(appendNum(nil, &x))
	}
	intOnly := mask&tNumber == 0 && mask&tInteger != 0
	if len(lower) == 0 && len(upper) == 0 && dv == nil {
		return nil, nil
	}
	return func(st *state, pos int) int {
		end := st.scanNumber(pos)
		if end < 0 {
			return -1
		}
		x := parseNum(st.doc[pos:end])
		if intOnly && !x.isInt() {
			return typeFail(st, "integer", "number")
		}
		for i := range lower {
			b := &lower[i]
			r := cmpNum(&x, &b.x)
			if r < 0 || (r == 0 && b.excl) {
				if b.excl {
					return numFail(st, b.kw, "must be > ", b.src)
				}
				return numFail(st, b.kw, "must be >= ", b.src)
			}
		}
		for i := range upper {
			b := &upper[i]
			r := cmpNum(&x, &b.x)
			if r > 0 || (r == 0 && b.excl) {
				if b.excl {
					return numFail(st, b.kw, "must be < ", b.src)
				}
				return numFail(st, b.kw, "must be <= ", b.src)
			}
		}
		if dv != nil && !multipleOf(&x, dv) {
			return numFail(st, "multipleOf", "must be a multiple of ", dvSrc)
		}
		return end
	}, nil
}

func numFail(st *state, kw, msg, src string) int {
	if st.recording() {
		st.failed = true
		st.errKw = kw
		st.errMsg = append(st.errMsg[:0], msg...)
		st.errMsg = append(st.errMsg, src...)
	}
	return -1
}

// --- strings ---

func (c *compiler) stringKW(ptr string, m map[string]any) (vfn, error) {
	minL, err := getCount(m, "minLength")
	if err != nil {
		return nil, kwErr(ptr, "minLength", err)
	}
	maxL, err := getCount(m, "maxLength")
	if err != nil {
		return nil, kwErr(ptr, "maxLength", err)
	}
	var re *regexp.Regexp
	var pat string
	if p, ok := m["pattern"]; ok {
		s, ok := p.(string)
		if !ok {
			return nil, kwErr(ptr, "pattern", errors.New("must be a string"))
		}
		re, err = CompilePattern(s)
		if err != nil {
			return nil, kwErr(ptr, "pattern", err)
		}
		pat = s
	}
	var fmtFn func([]byte) bool
	var fmtName string
	if f, ok := m["format"].(string); ok && c.assert {
		fmtFn = formatFuncs[f]
		fmtName = f
		if fmtFn == nil {
			if fallbackFormats[f] {
				return nil, needFallback(ptr, "format %q", f)
			}
			c.warnf("unknown format %q ignored at %s", f, ptrOrRoot(ptr))
		}
	}
	if minL <= 0 && maxL < 0 && re == nil && fmtFn == nil {
		return nil, nil
	}
	if minL < 0 {
		minL = 0
	}
	patMsg := "does not match pattern " + strconv.Quote(pat)
	fmtMsg := "is not a valid " + fmtName
	return func(st *state, pos int) int {
		end, esc, n := st.scanString(pos)
		if end < 0 {
			return -1
		}
		if n < minL {
			return st.failN("minLength", "length must be >= ", int64(minL), "")
		}
		if maxL >= 0 && n > maxL {
			return st.failN("maxLength", "length must be <= ", int64(maxL), "")
		}
		if re == nil && fmtFn == nil {
			return end
		}
		s := st.doc[pos+1 : end-1]
		if esc {
			st.sbuf = appendUnescaped(st.sbuf[:0], s)
			s = st.sbuf
		}
		if re != nil && !re.Match(s) {
			return st.fail("pattern", patMsg)
		}
		if fmtFn != nil && !fmtFn(s) {
			return st.fail("format", fmtMsg)
		}
		return end
	}, nil
}

// --- enum and const ---

func (c *compiler) enumKW(ptr string, m map[string]any, n *node) error {
	if v, ok := m["const"]; ok && c.draft >= Draft6 {
		cv, err := newCval(v)
		if err != nil {
			return kwErr(ptr, "const", err)
		}
		n.enumKw, n.enumMsg = "const", "value must be "+shortJSON(v)
		n.enum = func(st *state, a, b int) bool { return st.match(a, cv) }
		if e, ok := m["enum"]; ok {
			// both: const then enum
			ef, msg, err := enumFunc(e)
			if err != nil {
				return kwErr(ptr, "enum", err)
			}
			n.apps = append(n.apps, func(st *state, pos int) int {
				if !ef(st, pos, 0) {
					return st.fail("enum", msg)
				}
				return pos
			})
		}
		return nil
	}
	e, ok := m["enum"]
	if !ok {
		return nil
	}
	ef, msg, err := enumFunc(e)
	if err != nil {
		return kwErr(ptr, "enum", err)
	}
	n.enum, n.enumKw, n.enumMsg = ef, "enum", msg
	return nil
}

func enumFunc(e any) (func(st *state, a, b int) bool, string, error) {
	list, ok := e.([]any)
	if !ok {
		return nil, "", errors.New("must be an array")
	}
	msg := "value must be one of " + shortJSON(e)
	allStr := true
	for _, v := range list {
		if _, ok := v.(string); !ok {
			allStr = false
		}
	}
	if allStr {
		set := make(map[string]struct{}, len(list))
		for _, v := range list {
			set[v.(string)] = struct{}{}
		}
		return func(st *state, a, b int) bool {
			d := st.doc
			if d[a] != '"' {
				return false
			}
			end := skipTrusted(d, a)
			s := d[a+1 : end-1]
			if bytes.IndexByte(s, '\\') >= 0 {
				st.sbuf = appendUnescaped(st.sbuf[:0], s)
				s = st.sbuf
			}
			_, ok := set[string(s)]
			return ok
		}, msg, nil
	}
	cvs := make([]*cval, len(list))
	for i, v := range list {
		cv, err := newCval(v)
		if err != nil {
			return nil, "", err
		}
		cvs[i] = cv
	}
	return func(st *state, a, b int) bool {
		for _, cv := range cvs {
			if st.match(a, cv) {
				return true
			}
		}
		return false
	}, msg, nil
}

func shortJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	if len(b) > 120 {
		return string(b[:117]) + "..."
	}
	return string(b)
}

// --- applicators ---

func (c *compiler) subList(ptr, kw string, m map[string]any) ([]vfn, error) {
	v, ok := m[kw]
	if !ok {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, kwErr(ptr, kw, errors.New("must be a non-empty array of schemas"))
	}
	out := make([]vfn, len(list))
	for i := range list {
		f, err := c.call(ptr, ptr+"/"+kw+"/"+strconv.Itoa(i), true)
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

func (c *compiler) applicators(ptr string, m map[string]any, n *node) error {
	all, err := c.subList(ptr, "allOf", m)
	if err != nil {
		return err
	}
	n.apps = append(n.apps, all...)

	anyOf, err := c.subList(ptr, "anyOf", m)
	if err != nil {
		return err
	}
	if anyOf != nil {
		n.apps = append(n.apps, func(st *state, pos int) int {
			st.suppress++
			for _, f := range anyOf {
				if e := f(st, pos); e >= 0 {
					st.suppress--
					return e
				}
				if st.fatal {
					break
				}
			}
			st.suppress--
			if st.fatal {
				return -1
			}
			return st.fail("anyOf", "value does not match any schema of anyOf")
		})
	}

	oneOf, err := c.subList(ptr, "oneOf", m)
	if err != nil {
		return err
	}
	if oneOf != nil {
		n.apps = append(n.apps, func(st *state, pos int) int {
			st.suppress++
			end, count := -1, 0
			for _, f := range oneOf {
				if e := f(st, pos); e >= 0 {
					end = e
					count++
					if count > 1 {
						break
					}
				}
				if st.fatal {
					st.suppress--
					return -1
				}
			}
			st.suppress--
			switch count {
			case 1:
				return end
			case 0:
				return st.fail("oneOf", "value does not match any schema of oneOf")
			}
			return st.fail("oneOf", "value matches more than one schema of oneOf")
		})
	}

	if _, ok := m["not"]; ok {
		f, err := c.sub(ptr, "not", true)
		if err != nil {
			return err
		}
		n.apps = append(n.apps, func(st *state, pos int) int {
			st.suppress++
			e := f(st, pos)
			st.suppress--
			if st.fatal {
				return -1
			}
			if e >= 0 {
				return st.fail("not", "value must not match the schema of not")
			}
			return pos
		})
	}

	if _, ok := m["if"]; ok && c.draft >= Draft7 {
		iff, err := c.sub(ptr, "if", true)
		if err != nil {
			return err
		}
		var thenF, elseF vfn
		if _, ok := m["then"]; ok {
			if thenF, err = c.sub(ptr, "then", true); err != nil {
				return err
			}
		}
		if _, ok := m["else"]; ok {
			if elseF, err = c.sub(ptr, "else", true); err != nil {
				return err
			}
		}
		if thenF != nil || elseF != nil {
			n.apps = append(n.apps, func(st *state, pos int) int {
				st.suppress++
				ok := iff(st, pos) >= 0
				st.suppress--
				if st.fatal {
					return -1
				}
				if ok {
					if thenF != nil {
						return thenF(st, pos)
					}
				} else if elseF != nil {
					return elseF(st, pos)
				}
				return pos
			})
		}
	}
	return nil
}

// checkCycles rejects schemas that apply themselves to the same value
// without consuming input ({"$ref": "#"} at the root, a ↔ b through allOf):
// validation would never end.
func (c *compiler) checkCycles() error {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var visit func(p string) error
	visit = func(p string) error {
		color[p] = grey
		for _, q := range c.edges[p] {
			switch color[q] {
			case grey:
				return fmt.Errorf("schema at %s applies itself to the same value (infinite recursion through $ref or an applicator)", ptrOrRoot(q))
			case white:
				if err := visit(q); err != nil {
					return err
				}
			}
		}
		color[p] = black
		return nil
	}
	keys := make([]string, 0, len(c.edges))
	for k := range c.edges {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if color[k] == white {
			if err := visit(k); err != nil {
				return err
			}
		}
	}
	return nil
}
