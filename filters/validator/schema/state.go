package schema

import (
	"strconv"
	"sync"
)

// state is the per-validation scratch space. It is pooled: after warm-up a
// validation allocates nothing.
type state struct {
	doc      []byte
	depth    int
	maxDepth int
	steps    int
	maxSteps int

	// suppress > 0 while a branch of anyOf/oneOf/not/if/contains runs:
	// failures are then expected and not recorded.
	suppress int

	// the first error: syntax (fatal) or schema failure
	fatal   bool
	failed  bool
	errPos  int
	errKw   string
	errMsg  []byte
	errPath []seg // innermost first

	// the last key scanned by objectKey
	kA, kB int
	kEsc   bool

	keys  []keyEnt
	tbl   []int32
	bits  []uint64
	items []itemEnt
	kbuf  []byte // decoded keys for duplicate checks
	sbuf  []byte // decoded strings (pattern, format, enum, property lookup)
}

// seg is one step of the instance path of an error: an object key (the raw
// contents at doc[a:b]) or an array index a.
type seg struct {
	key  bool
	esc  bool
	a, b int
}

var statePool = sync.Pool{New: func() any { return &state{} }}

func acquireState(doc []byte, maxDepth, maxSteps int) *state {
	st := statePool.Get().(*state)
	st.doc = doc
	st.maxDepth = maxDepth
	st.maxSteps = maxSteps
	return st
}

func releaseState(st *state) {
	st.doc = nil
	st.depth, st.steps, st.suppress = 0, 0, 0
	st.fatal, st.failed = false, false
	st.errPos, st.errKw = 0, ""
	st.errMsg = st.errMsg[:0]
	st.errPath = st.errPath[:0]
	st.keys = st.keys[:0]
	st.tbl = st.tbl[:0]
	st.bits = st.bits[:0]
	st.items = st.items[:0]
	if cap(st.sbuf) > 1<<20 {
		st.sbuf = nil
	}
	if cap(st.items) > 1<<16 {
		st.items = nil
	}
	statePool.Put(st)
}

// syntax records a fatal syntax error at i and returns -1.
func (st *state) syntax(i int, msg string) int {
	if !st.fatal {
		st.fatal = true
		st.errPos = i
		st.errKw = ""
		st.errMsg = append(st.errMsg[:0], msg...)
		st.errPath = st.errPath[:0]
	}
	return -1
}

// tooComplex records the fatal "validation budget exceeded" error.
func (st *state) tooComplex(i int) int {
	st.syntax(i, "")
	st.errKw = "$budget"
	st.errMsg = append(st.errMsg[:0], "document too complex for this schema"...)
	return -1
}

// recording reports whether a failure at this point must be recorded.
func (st *state) recording() bool { return st.suppress == 0 && !st.fatal && !st.failed }

// fail records a schema failure (kw, msg) at the current instance location
// and returns -1.
func (st *state) fail(kw, msg string) int {
	if st.recording() {
		st.failed = true
		st.errKw = kw
		st.errMsg = append(st.errMsg[:0], msg...)
	}
	return -1
}

// failN records a failure whose message is msg followed by a number and an
// optional suffix.
func (st *state) failN(kw, msg string, n int64, suffix string) int {
	if st.recording() {
		st.failed = true
		st.errKw = kw
		st.errMsg = append(st.errMsg[:0], msg...)
		st.errMsg = strconv.AppendInt(st.errMsg, n, 10)
		st.errMsg = append(st.errMsg, suffix...)
	}
	return -1
}

// failS records a failure whose message quotes a name: msg 'name' suffix.
func (st *state) failS(kw, msg string, name []byte, suffix string) int {
	if st.recording() {
		st.failed = true
		st.errKw = kw
		st.errMsg = append(st.errMsg[:0], msg...)
		st.errMsg = append(st.errMsg, '\'')
		st.errMsg = append(st.errMsg, name...)
		st.errMsg = append(st.errMsg, '\'')
		st.errMsg = append(st.errMsg, suffix...)
	}
	return -1
}

// pathKey adds the last-failed child's key to the error path.
func (st *state) pathKey(a, b int, esc bool) {
	if st.failed && st.suppress == 0 && !st.fatal {
		st.errPath = append(st.errPath, seg{key: true, esc: esc, a: a, b: b})
	}
}

func (st *state) pathIndex(i int) {
	if st.failed && st.suppress == 0 && !st.fatal {
		st.errPath = append(st.errPath, seg{a: i})
	}
}

// appendPath appends the JSON pointer of the recorded error to dst.
func (st *state) appendPath(dst []byte) []byte {
	for k := len(st.errPath) - 1; k >= 0; k-- {
		s := st.errPath[k]
		dst = append(dst, '/')
		if !s.key {
			dst = strconv.AppendInt(dst, int64(s.a), 10)
			continue
		}
		raw := st.doc[s.a:s.b]
		if s.esc {
			st.kbuf = appendUnescaped(st.kbuf[:0], raw)
			raw = st.kbuf
		}
		dst = appendPointerEscaped(dst, raw)
	}
	return dst
}
