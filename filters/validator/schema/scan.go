package schema

import (
	"bytes"
	"hash/maphash"
	"unicode/utf8"
)

// This file is the hand-written JSON scanner the compiled validators run on.
// It is justified by the hot path (see the package comment): it checks the
// syntax of the raw request bytes (grammar, UTF-8, escapes, duplicate keys,
// nesting depth) while the compiled keyword closures look at the values, so
// a body is read once and no document tree is built. Every scan is linear in
// the bytes it covers and allocates nothing once the pooled state is warm.

// plain marks the bytes that need no attention inside a JSON string.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

var hexVal = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = int8(c - 'a' + 10)
		t[c-'a'+'A'] = int8(c - 'a' + 10)
	}
	return t
}()

var seed = maphash.MakeSeed()

func skipWS(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skip checks the syntax of the value at i and returns the index after it.
func (st *state) skip(i int) int {
	d := st.doc
	if i >= len(d) {
		return st.syntax(i, "unexpected end of JSON input")
	}
	switch c := d[i]; c {
	case '{':
		return st.skipObject(i)
	case '[':
		return st.skipArray(i)
	case '"':
		end, _, _ := st.scanString(i)
		return end
	case 't':
		return st.literal(i, "true")
	case 'f':
		return st.literal(i, "false")
	case 'n':
		return st.literal(i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return st.scanNumber(i)
		}
	}
	return st.syntax(i, "invalid character")
}

func (st *state) literal(i int, lit string) int {
	d := st.doc
	if len(d)-i < len(lit) {
		return st.syntax(i, "unexpected end of JSON input")
	}
	if string(d[i:i+len(lit)]) != lit {
		return st.syntax(i, "invalid literal")
	}
	return i + len(lit)
}

// enter increments the nesting depth; it fails when the limit is reached.
func (st *state) enter(i int) bool {
	if st.depth >= st.maxDepth {
		st.syntax(i, "nesting too deep")
		return false
	}
	st.depth++
	return true
}

// skipArray checks an array without a schema.
func (st *state) skipArray(i int) int {
	if !st.enter(i) {
		return -1
	}
	end := st.skipArrayIn(i)
	st.depth--
	return end
}

func (st *state) skipArrayIn(i int) int {
	d := st.doc
	j := skipWS(d, i+1)
	if j < len(d) && d[j] == ']' {
		return j + 1
	}
	for {
		e := st.skip(j)
		if e < 0 {
			return -1
		}
		j = skipWS(d, e)
		if j >= len(d) {
			return st.syntax(j, "unexpected end of JSON input")
		}
		switch d[j] {
		case ',':
			j = skipWS(d, j+1)
		case ']':
			return j + 1
		default:
			return st.syntax(j, "expected ',' or ']' in array")
		}
	}
}

// objFrame is the duplicate-key set of one object being scanned.
type objFrame struct {
	base    int // first entry of the object in st.keys
	tblOff  int // its hash table in st.tbl (when tblSize > 0)
	tblSize int
}

type keyEnt struct {
	h    uint64
	a, b int32 // key contents (between the quotes) in the document
	esc  bool
}

func (st *state) openObject() objFrame {
	return objFrame{base: len(st.keys)}
}

func (st *state) closeObject(f *objFrame) {
	st.keys = st.keys[:f.base]
	if f.tblSize > 0 {
		st.tbl = st.tbl[:f.tblOff]
	}
}

// skipObject checks an object without a schema.
func (st *state) skipObject(i int) int {
	if !st.enter(i) {
		return -1
	}
	f := st.openObject()
	end := st.skipObjectIn(i, &f)
	st.closeObject(&f)
	st.depth--
	return end
}

func (st *state) skipObjectIn(i int, f *objFrame) int {
	d := st.doc
	j := skipWS(d, i+1)
	if j < len(d) && d[j] == '}' {
		return j + 1
	}
	for {
		vpos := st.objectKey(j, f)
		if vpos < 0 {
			return -1
		}
		e := st.skip(vpos)
		if e < 0 {
			return -1
		}
		j = skipWS(d, e)
		if j >= len(d) {
			return st.syntax(j, "unexpected end of JSON input")
		}
		switch d[j] {
		case ',':
			j = skipWS(d, j+1)
		case '}':
			return j + 1
		default:
			return st.syntax(j, "expected ',' or '}' in object")
		}
	}
}

// objectKey scans the key at j (and the colon after it), records it in f
// and returns the position of the value, or -1. st.kA, st.kB and st.kEsc
// describe the key afterwards.
func (st *state) objectKey(j int, f *objFrame) int {
	d := st.doc
	if j >= len(d) {
		return st.syntax(j, "unexpected end of JSON input")
	}
	if d[j] != '"' {
		return st.syntax(j, "expected string key in object")
	}
	kend, esc, _ := st.scanString(j)
	if kend < 0 {
		return -1
	}
	if !st.addKey(f, j+1, kend-1, esc) {
		return st.syntax(j, "duplicate key in object")
	}
	st.kA, st.kB, st.kEsc = j+1, kend-1, esc
	k := skipWS(d, kend)
	if k >= len(d) {
		return st.syntax(k, "unexpected end of JSON input")
	}
	if d[k] != ':' {
		return st.syntax(k, "expected ':' after object key")
	}
	return skipWS(d, k+1)
}

// addKey adds the key d[a:b] to the object's set; false means duplicate.
// Objects up to 8 keys are compared linearly, larger ones get an open
// addressing hash table on st.tbl, so hostile objects with many keys stay
// linear.
func (st *state) addKey(f *objFrame, a, b int, esc bool) bool {
	h := st.keyHash(a, b, esc)
	n := len(st.keys) - f.base
	if n < 8 {
		for k := f.base; k < len(st.keys); k++ {
			if st.keys[k].h == h && st.keyEq(st.keys[k], a, b, esc) {
				return false
			}
		}
		st.keys = append(st.keys, keyEnt{h: h, a: int32(a), b: int32(b), esc: esc})
		return true
	}
	if f.tblSize == 0 || (n+1)*2 > f.tblSize {
		st.growTable(f)
	}
	tbl := st.tbl[f.tblOff : f.tblOff+f.tblSize]
	mask := uint64(f.tblSize - 1)
	for p := h & mask; ; p = (p + 1) & mask {
		e := tbl[p]
		if e == 0 {
			tbl[p] = int32(len(st.keys) + 1)
			st.keys = append(st.keys, keyEnt{h: h, a: int32(a), b: int32(b), esc: esc})
			return true
		}
		if ke := st.keys[e-1]; ke.h == h && st.keyEq(ke, a, b, esc) {
			return false
		}
	}
}

func (st *state) growTable(f *objFrame) {
	size := 32
	if f.tblSize > 0 {
		size = f.tblSize * 2
		st.tbl = st.tbl[:f.tblOff]
	} else {
		f.tblOff = len(st.tbl)
	}
	f.tblSize = size
	st.tbl = append(st.tbl, make([]int32, size)...)
	tbl := st.tbl[f.tblOff : f.tblOff+size]
	mask := uint64(size - 1)
	for k := f.base; k < len(st.keys); k++ {
		p := st.keys[k].h & mask
		for tbl[p] != 0 {
			p = (p + 1) & mask
		}
		tbl[p] = int32(k + 1)
	}
}

func (st *state) keyHash(a, b int, esc bool) uint64 {
	if !esc {
		return maphash.Bytes(seed, st.doc[a:b])
	}
	st.kbuf = appendUnescaped(st.kbuf[:0], st.doc[a:b])
	return maphash.Bytes(seed, st.kbuf)
}

func (st *state) keyEq(k keyEnt, a, b int, esc bool) bool {
	x := st.doc[k.a:k.b]
	y := st.doc[a:b]
	if !k.esc && !esc {
		return bytes.Equal(x, y)
	}
	st.kbuf = appendUnescaped(st.kbuf[:0], x)
	n := len(st.kbuf)
	st.kbuf = appendUnescaped(st.kbuf, y)
	return bytes.Equal(st.kbuf[:n], st.kbuf[n:])
}

// scanString checks the string starting at the quote at i. It returns the
// index after the closing quote, whether it holds escapes, and its length in
// code points. Control characters, invalid UTF-8, bad escapes and lone
// surrogates (\ud800 without its pair) are syntax errors.
func (st *state) scanString(i int) (end int, esc bool, n int) {
	d := st.doc
	j := i + 1
	for {
		for j < len(d) && plain[d[j]] {
			j++
			n++
		}
		if j >= len(d) {
			return st.syntax(i, "unterminated string"), false, 0
		}
		switch c := d[j]; {
		case c == '"':
			return j + 1, esc, n
		case c == '\\':
			esc = true
			k := st.escape(j)
			if k < 0 {
				return -1, false, 0
			}
			j = k
			n++
		case c < 0x20:
			return st.syntax(j, "control character in string"), false, 0
		default:
			r, size := utf8.DecodeRune(d[j:])
			if r == utf8.RuneError && size == 1 {
				return st.syntax(j, "invalid UTF-8 in string"), false, 0
			}
			j += size
			n++
		}
	}
}

// escape checks the escape sequence at j (a backslash) and returns the
// index after it.
func (st *state) escape(j int) int {
	d := st.doc
	if j+1 >= len(d) {
		return st.syntax(j, "unterminated string")
	}
	switch d[j+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return j + 2
	case 'u':
		r, ok := hex4(d, j+2)
		if !ok {
			return st.syntax(j, "invalid \\u escape")
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if j+7 < len(d) && d[j+6] == '\\' && d[j+7] == 'u' {
				if r2, ok := hex4(d, j+8); ok && r2 >= 0xDC00 && r2 < 0xE000 {
					return j + 12
				}
			}
			return st.syntax(j, "lone surrogate in \\u escape")
		case r >= 0xDC00 && r < 0xE000:
			return st.syntax(j, "lone surrogate in \\u escape")
		}
		return j + 6
	}
	return st.syntax(j, "invalid escape in string")
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for k := i; k < i+4; k++ {
		v := hexVal[d[k]]
		if v < 0 {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// appendUnescaped appends the decoded contents of a string whose syntax was
// already checked (s is what lies between the quotes).
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			k := bytes.IndexByte(s[i:], '\\')
			if k < 0 {
				return append(dst, s[i:]...)
			}
			dst = append(dst, s[i:i+k]...)
			i += k
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(s, i+2)
			if r >= 0xD800 && r < 0xDC00 {
				r2, _ := hex4(s, i+8)
				r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default:
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

// scanNumber checks the JSON number grammar at i and returns the index
// after the number.
func (st *state) scanNumber(i int) int {
	d := st.doc
	j := i
	if j < len(d) && d[j] == '-' {
		j++
	}
	if j >= len(d) {
		return st.syntax(i, "unexpected end of JSON input")
	}
	switch c := d[j]; {
	case c == '0':
		j++
	case c >= '1' && c <= '9':
		j++
		for j < len(d) && d[j] >= '0' && d[j] <= '9' {
			j++
		}
	default:
		return st.syntax(i, "invalid number")
	}
	if j < len(d) && d[j] == '.' {
		j++
		k := j
		for j < len(d) && d[j] >= '0' && d[j] <= '9' {
			j++
		}
		if j == k {
			return st.syntax(i, "invalid number")
		}
	}
	if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
		j++
		if j < len(d) && (d[j] == '+' || d[j] == '-') {
			j++
		}
		k := j
		for j < len(d) && d[j] >= '0' && d[j] <= '9' {
			j++
		}
		if j == k {
			return st.syntax(i, "invalid number")
		}
	}
	if j < len(d) {
		// a number must be followed by a delimiter: "01", "1x" and "-"
		// are errors here, not at the caller.
		switch d[j] {
		case ' ', '\t', '\n', '\r', ',', ']', '}':
		default:
			return st.syntax(j, "invalid character after number")
		}
	}
	return j
}

// skipTrusted returns the end of the value at i, which was already checked.
func skipTrusted(d []byte, i int) int {
	switch d[i] {
	case '"':
		j := i + 1
		for {
			k := bytes.IndexAny(d[j:], `"\`)
			j += k
			if d[j] == '"' {
				return j + 1
			}
			j += 2
		}
	case '{', '[':
		depth := 0
		j := i
		for {
			switch d[j] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			case '"':
				j = skipTrusted(d, j) - 1
			}
			j++
		}
	case 't', 'n':
		return i + 4
	case 'f':
		return i + 5
	}
	j := i
	for j < len(d) {
		switch d[j] {
		case ' ', '\t', '\n', '\r', ',', ']', '}':
			return j
		}
		j++
	}
	return j
}
