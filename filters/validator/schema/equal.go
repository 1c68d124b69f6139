package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
)

// cval is a compiled enum/const value, compared with raw document values by
// JSON equality (numbers by value, objects regardless of key order).
type cval struct {
	kind byte // 'n' null, 'b' boolean, 's' string, 'd' number, 'o' object, 'a' array
	b    bool
	s    []byte
	x    num
	arr  []*cval
	obj  map[string]*cval
}

func newCval(v any) (*cval, error) {
	switch x := v.(type) {
	case nil:
		return &cval{kind: 'n'}, nil
	case bool:
		return &cval{kind: 'b', b: x}, nil
	case string:
		return &cval{kind: 's', s: []byte(x)}, nil
	case json.Number:
		return &cval{kind: 'd', x: parseNum([]byte(x.String()))}, nil
	case []any:
		cv := &cval{kind: 'a', arr: make([]*cval, len(x))}
		for i, e := range x {
			c, err := newCval(e)
			if err != nil {
				return nil, err
			}
			cv.arr[i] = c
		}
		return cv, nil
	case map[string]any:
		cv := &cval{kind: 'o', obj: make(map[string]*cval, len(x))}
		for k, e := range x {
			c, err := newCval(e)
			if err != nil {
				return nil, err
			}
			cv.obj[k] = c
		}
		return cv, nil
	}
	return nil, fmt.Errorf("unsupported value %T", v)
}

// nextElem moves past the element ending at e to the start of the next one
// in an already checked array or object; ok is false at the closing bracket.
func nextElem(d []byte, e int) (int, bool) {
	j := skipWS(d, e)
	if d[j] == ',' {
		return skipWS(d, j+1), true
	}
	return j + 1, false
}

// keyAt returns the raw key at j (a quote), whether it has escapes and the
// position of its value, in an already checked object.
func keyAt(d []byte, j int) (k []byte, esc bool, vpos int) {
	end := skipTrusted(d, j)
	k = d[j+1 : end-1]
	esc = bytes.IndexByte(k, '\\') >= 0
	c := skipWS(d, end)
	return k, esc, skipWS(d, c+1)
}

// match reports whether the checked value at i equals cv.
func (st *state) match(i int, cv *cval) bool {
	d := st.doc
	switch d[i] {
	case 'n':
		return cv.kind == 'n'
	case 't':
		return cv.kind == 'b' && cv.b
	case 'f':
		return cv.kind == 'b' && !cv.b
	case '"':
		if cv.kind != 's' {
			return false
		}
		end := skipTrusted(d, i)
		s := d[i+1 : end-1]
		if bytes.IndexByte(s, '\\') >= 0 {
			st.sbuf = appendUnescaped(st.sbuf[:0], s)
			s = st.sbuf
		}
		return bytes.Equal(s, cv.s)
	case '[':
		if cv.kind != 'a' {
			return false
		}
		j := skipWS(d, i+1)
		n := 0
		if d[j] == ']' {
			return len(cv.arr) == 0
		}
		for {
			if n >= len(cv.arr) || !st.match(j, cv.arr[n]) {
				return false
			}
			n++
			var more bool
			if j, more = nextElem(d, skipTrusted(d, j)); !more {
				return n == len(cv.arr)
			}
		}
	case '{':
		if cv.kind != 'o' {
			return false
		}
		j := skipWS(d, i+1)
		n := 0
		if d[j] == '}' {
			return len(cv.obj) == 0
		}
		for {
			k, esc, vpos := keyAt(d, j)
			if esc {
				st.sbuf = appendUnescaped(st.sbuf[:0], k)
				k = st.sbuf
			}
			child, ok := cv.obj[string(k)]
			if !ok || !st.match(vpos, child) {
				return false
			}
			n++
			var more bool
			if j, more = nextElem(d, skipTrusted(d, vpos)); !more {
				return n == len(cv.obj)
			}
		}
	}
	if cv.kind != 'd' {
		return false
	}
	x := parseNum(d[i:skipTrusted(d, i)])
	return cmpNum(&x, &cv.x) == 0
}

// --- uniqueItems ---

type itemEnt struct {
	h   uint64
	pos int32
	idx int32
}

func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb93fe53e86b
	h ^= h >> 33
	return h
}

// hashValue returns a structural hash of the checked value at i: equal JSON
// values (1 and 1.0, objects in any key order, "a" and "\u0061") hash alike.
func (st *state) hashValue(i int) uint64 {
	d := st.doc
	switch d[i] {
	case 'n':
		return 0x9e3779b97f4a7c15
	case 't':
		return 0x6a09e667f3bcc908
	case 'f':
		return 0xbb67ae8584caa73b
	case '"':
		end := skipTrusted(d, i)
		s := d[i+1 : end-1]
		if bytes.IndexByte(s, '\\') >= 0 {
			st.sbuf = appendUnescaped(st.sbuf[:0], s)
			s = st.sbuf
		}
		return mix(maphash.Bytes(seed, s) ^ 0x3c6ef372fe94f82b)
	case '[':
		h := uint64(0xa54ff53a5f1d36f1)
		j := skipWS(d, i+1)
		if d[j] == ']' {
			return h
		}
		for {
			h = mix(h*31 + st.hashValue(j))
			var more bool
			if j, more = nextElem(d, skipTrusted(d, j)); !more {
				return h
			}
		}
	case '{':
		h := uint64(0x510e527fade682d1)
		j := skipWS(d, i+1)
		if d[j] == '}' {
			return h
		}
		for {
			k, esc, vpos := keyAt(d, j)
			if esc {
				st.sbuf = appendUnescaped(st.sbuf[:0], k)
				k = st.sbuf
			}
			kh := maphash.Bytes(seed, k)
			h += mix(kh ^ mix(st.hashValue(vpos)+0x1f83d9abfb41bd6b))
			var more bool
			if j, more = nextElem(d, skipTrusted(d, vpos)); !more {
				return mix(h)
			}
		}
	}
	x := parseNum(d[i:skipTrusted(d, i)])
	var mh maphash.Hash
	mh.SetSeed(seed)
	mh.Write(x.a)
	mh.Write(x.b)
	h := mh.Sum64() ^ uint64(x.exp)*0x9b05688c2b3e6c1f
	if x.neg {
		h = ^h
	}
	return mix(h)
}

// equalValues reports whether the checked values at i and j are equal JSON.
// Object members are matched through a hash table (st.keys/st.tbl), so even
// two equal objects of many keys compare in linear time.
func (st *state) equalValues(i, j int) bool {
	d := st.doc
	a, b := d[i], d[j]
	switch a {
	case 'n', 't', 'f':
		return a == b
	case '"':
		if b != '"' {
			return false
		}
		ea, eb := skipTrusted(d, i), skipTrusted(d, j)
		x, y := d[i+1:ea-1], d[j+1:eb-1]
		if bytes.IndexByte(x, '\\') < 0 && bytes.IndexByte(y, '\\') < 0 {
			return bytes.Equal(x, y)
		}
		st.sbuf = appendUnescaped(st.sbuf[:0], x)
		n := len(st.sbuf)
		st.sbuf = appendUnescaped(st.sbuf, y)
		return bytes.Equal(st.sbuf[:n], st.sbuf[n:])
	case '[':
		if b != '[' {
			return false
		}
		x, y := skipWS(d, i+1), skipWS(d, j+1)
		if d[x] == ']' || d[y] == ']' {
			return d[x] == d[y]
		}
		for {
			if !st.equalValues(x, y) {
				return false
			}
			var mx, my bool
			x, mx = nextElem(d, skipTrusted(d, x))
			y, my = nextElem(d, skipTrusted(d, y))
			if mx != my {
				return false
			}
			if !mx {
				return true
			}
		}
	case '{':
		if b != '{' {
			return false
		}
		f := st.openObject()
		ok := st.equalObjects(i, j, &f)
		st.closeObject(&f)
		return ok
	}
	if b == '{' || b == '[' || b == '"' || b == 'n' || b == 't' || b == 'f' {
		return false
	}
	x := parseNum(d[i:skipTrusted(d, i)])
	y := parseNum(d[j:skipTrusted(d, j)])
	return cmpNum(&x, &y) == 0
}

func (st *state) equalObjects(i, j int, f *objFrame) bool {
	d := st.doc
	// index the members of the second object
	nb := 0
	y := skipWS(d, j+1)
	if d[y] != '}' {
		for {
			end := skipTrusted(d, y)
			k := d[y+1 : end-1]
			st.addKey(f, y+1, end-1, bytes.IndexByte(k, '\\') >= 0)
			nb++
			_, _, vpos := keyAt(d, y)
			var more bool
			if y, more = nextElem(d, skipTrusted(d, vpos)); !more {
				break
			}
		}
	}
	na := 0
	x := skipWS(d, i+1)
	if d[x] == '}' {
		return nb == 0
	}
	for {
		end := skipTrusted(d, x)
		k := d[x+1 : end-1]
		ki := st.findKey(f, x+1, end-1, bytes.IndexByte(k, '\\') >= 0)
		if ki < 0 {
			return false
		}
		ke := st.keys[ki]
		_, _, va := keyAt(d, x)
		_, _, vb := keyAt(d, int(ke.a)-1)
		if !st.equalValues(va, vb) {
			return false
		}
		na++
		var more bool
		if x, more = nextElem(d, skipTrusted(d, va)); !more {
			return na == nb
		}
	}
}

// findKey returns the index in st.keys of the key d[a:b] in frame f, or -1.
func (st *state) findKey(f *objFrame, a, b int, esc bool) int {
	h := st.keyHash(a, b, esc)
	if f.tblSize == 0 {
		for k := f.base; k < len(st.keys); k++ {
			if st.keys[k].h == h && st.keyEq(st.keys[k], a, b, esc) {
				return k
			}
		}
		return -1
	}
	tbl := st.tbl[f.tblOff : f.tblOff+f.tblSize]
	mask := uint64(f.tblSize - 1)
	for p := h & mask; ; p = (p + 1) & mask {
		e := tbl[p]
		if e == 0 {
			return -1
		}
		if ke := st.keys[e-1]; ke.h == h && st.keyEq(ke, a, b, esc) {
			return int(e - 1)
		}
	}
}

// duplicateItems reports the indexes of two equal items among st.items[base:].
func (st *state) duplicateItems(base int) (int, int, bool) {
	items := st.items[base:]
	if len(items) < 2 {
		return 0, 0, false
	}
	slices.SortFunc(items, func(x, y itemEnt) int {
		switch {
		case x.h < y.h:
			return -1
		case x.h > y.h:
			return 1
		}
		return int(x.idx - y.idx)
	})
	for k := 0; k+1 < len(items); k++ {
		for l := k + 1; l < len(items) && items[l].h == items[k].h; l++ {
			if st.equalValues(int(items[k].pos), int(items[l].pos)) {
				return int(items[k].idx), int(items[l].idx), true
			}
		}
	}
	return 0, 0, false
}
