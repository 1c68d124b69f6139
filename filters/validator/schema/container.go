package schema

import (
	"errors"
	"fmt"
	"math/bits"
	"regexp"
	"sort"
	"strconv"
)

// --- objects ---

// nameTable maps the property names a schema mentions to small indexes.
type nameTable struct {
	names [][]byte
	m     map[string]int
}

func (t *nameTable) add(s string) int {
	if i, ok := t.m[s]; ok {
		return i
	}
	if t.m == nil {
		t.m = map[string]int{}
	}
	t.m[s] = len(t.names)
	t.names = append(t.names, []byte(s))
	return len(t.names) - 1
}

func (t *nameTable) lookup(k []byte) int {
	if len(t.names) <= 8 {
		for i, n := range t.names {
			if string(n) == string(k) {
				return i
			}
		}
		return -1
	}
	if i, ok := t.m[string(k)]; ok {
		return i
	}
	return -1
}

type patProp struct {
	re *regexp.Regexp
	fn vfn
}

type depReq struct {
	name int
	req  []int
	kw   string
}

type depSch struct {
	name int
	fn   vfn
}

type objKW struct {
	names     nameTable
	props     []vfn // by name index; nil when the name is not in properties
	pats      []patProp
	addl      vfn
	addlFalse bool
	required  []int
	minP      int
	maxP      int
	propNames vfn
	depReq    []depReq
	depSch    []depSch
	words     int // > 0: seen-set in st.bits (more than 64 names)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (c *compiler) objectKW(ptr string, m map[string]any) (vfn, error) {
	k := &objKW{minP: -1, maxP: -1}
	used := false
	if v, ok := m["properties"]; ok {
		props, ok := v.(map[string]any)
		if !ok {
			return nil, kwErr(ptr, "properties", errors.New("must be an object"))
		}
		for _, name := range sortedKeys(props) {
			f, err := c.call(ptr, ptr+"/properties/"+escPtr(name), false)
			if err != nil {
				return nil, err
			}
			i := k.names.add(name)
			for len(k.props) <= i {
				k.props = append(k.props, nil)
			}
			k.props[i] = f
		}
		used = true
	}
	if v, ok := m["patternProperties"]; ok {
		pp, ok := v.(map[string]any)
		if !ok {
			return nil, kwErr(ptr, "patternProperties", errors.New("must be an object"))
		}
		if len(pp) > 64 {
			return nil, needFallback(ptr, "more than 64 patternProperties")
		}
		for _, p := range sortedKeys(pp) {
			re, err := CompilePattern(p)
			if err != nil {
				return nil, kwErr(ptr, "patternProperties", err)
			}
			f, err := c.call(ptr, ptr+"/patternProperties/"+escPtr(p), false)
			if err != nil {
				return nil, err
			}
			k.pats = append(k.pats, patProp{re: re, fn: f})
		}
		used = true
	}
	if v, ok := m["additionalProperties"]; ok {
		if b, ok := v.(bool); ok {
			k.addlFalse = !b
		} else {
			f, err := c.sub(ptr, "additionalProperties", false)
			if err != nil {
				return nil, err
			}
			k.addl = f
		}
		used = true
	}
	if v, ok := m["required"]; ok {
		list, ok := v.([]any)
		if !ok {
			return nil, kwErr(ptr, "required", errors.New("must be an array of strings"))
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, kwErr(ptr, "required", errors.New("must be an array of strings"))
			}
			k.required = append(k.required, k.names.add(s))
		}
		used = true
	}
	var err error
	if k.minP, err = getCount(m, "minProperties"); err != nil {
		return nil, kwErr(ptr, "minProperties", err)
	}
	if k.maxP, err = getCount(m, "maxProperties"); err != nil {
		return nil, kwErr(ptr, "maxProperties", err)
	}
	used = used || k.minP > 0 || k.maxP >= 0
	if _, ok := m["propertyNames"]; ok && c.draft >= Draft6 {
		f, err := c.sub(ptr, "propertyNames", false)
		if err != nil {
			return nil, err
		}
		k.propNames = f
		used = true
	}
	addDeps := func(kw string, allowSchema, allowArray bool) error {
		v, ok := m[kw]
		if !ok {
			return nil
		}
		deps, ok := v.(map[string]any)
		if !ok {
			return kwErr(ptr, kw, errors.New("must be an object"))
		}
		for _, name := range sortedKeys(deps) {
			i := k.names.add(name)
			if list, ok := deps[name].([]any); ok && allowArray {
				dr := depReq{name: i, kw: kw}
				for _, e := range list {
					s, ok := e.(string)
					if !ok {
						return kwErr(ptr, kw, errors.New("property lists must hold strings"))
					}
					dr.req = append(dr.req, k.names.add(s))
				}
				k.depReq = append(k.depReq, dr)
				continue
			}
			if !allowSchema {
				return kwErr(ptr, kw, fmt.Errorf("%q must be an array of strings", name))
			}
			f, err := c.call(ptr, ptr+"/"+kw+"/"+escPtr(name), true)
			if err != nil {
				return err
			}
			k.depSch = append(k.depSch, depSch{name: i, fn: f})
		}
		used = true
		return nil
	}
	if err := addDeps("dependencies", true, true); err != nil {
		return nil, err
	}
	if c.draft >= Draft2019 {
		if err := addDeps("dependentRequired", false, true); err != nil {
			return nil, err
		}
		if err := addDeps("dependentSchemas", true, false); err != nil {
			return nil, err
		}
	}
	if !used {
		return nil, nil
	}
	for len(k.props) < len(k.names.names) {
		k.props = append(k.props, nil)
	}
	if len(k.names.names) > 64 {
		k.words = (len(k.names.names) + 63) / 64
	}
	return k.validate, nil
}

func (k *objKW) validate(st *state, pos int) int {
	if !st.enter(pos) {
		return -1
	}
	f := st.openObject()
	bitBase := len(st.bits)
	if k.words > 0 {
		st.bits = append(st.bits, make([]uint64, k.words)...)
	}
	end := k.scan(st, pos, &f, bitBase)
	st.closeObject(&f)
	st.bits = st.bits[:bitBase]
	st.depth--
	return end
}

func (k *objKW) seen(st *state, seen uint64, bitBase, i int) bool {
	if k.words == 0 {
		return seen&(1<<uint(i)) != 0
	}
	return st.bits[bitBase+i/64]&(1<<uint(i%64)) != 0
}

func (k *objKW) scan(st *state, pos int, f *objFrame, bitBase int) int {
	d := st.doc
	var seen uint64
	count := 0
	j := skipWS(d, pos+1)
	end := -1
	if j < len(d) && d[j] == '}' {
		end = j + 1
	}
	for end < 0 {
		vpos := st.objectKey(j, f)
		if vpos < 0 {
			return -1
		}
		ka, kb, kesc := st.kA, st.kB, st.kEsc
		count++
		if k.maxP >= 0 && count > k.maxP {
			return st.failN("maxProperties", "object must have at most ", int64(k.maxP), " properties")
		}
		key := d[ka:kb]
		if kesc {
			st.sbuf = appendUnescaped(st.sbuf[:0], key)
			key = st.sbuf
		}
		idx := -1
		if len(k.names.names) > 0 {
			idx = k.names.lookup(key)
		}
		var pm uint64
		for pi := range k.pats {
			if k.pats[pi].re.Match(key) {
				pm |= 1 << uint(pi)
			}
		}
		if idx >= 0 {
			if k.words == 0 {
				seen |= 1 << uint(idx)
			} else {
				st.bits[bitBase+idx/64] |= 1 << uint(idx%64)
			}
		}
		matched := false
		if !k.addlFalse && k.addl == nil && len(k.pats) == 0 && (idx < 0 || k.props[idx] == nil) && k.propNames == nil {
			// fast: nothing applies to this member
		} else {
			if k.propNames != nil {
				if k.propNames(st, ka-1) < 0 {
					return -1
				}
			}
			ve := -1
			if idx >= 0 && k.props[idx] != nil {
				matched = true
				if ve = k.props[idx](st, vpos); ve < 0 {
					st.pathKey(ka, kb, kesc)
					return -1
				}
			}
			for pm != 0 {
				pi := bits.TrailingZeros64(pm)
				pm &= pm - 1
				matched = true
				if ve = k.pats[pi].fn(st, vpos); ve < 0 {
					st.pathKey(ka, kb, kesc)
					return -1
				}
			}
			if !matched {
				if k.addlFalse {
					if kesc {
						st.sbuf = appendUnescaped(st.sbuf[:0], d[ka:kb])
						key = st.sbuf
					}
					return st.failS("additionalProperties", "property ", key, " is not allowed")
				}
				if k.addl != nil {
					if ve = k.addl(st, vpos); ve < 0 {
						st.pathKey(ka, kb, kesc)
						return -1
					}
				}
			}
			if ve >= 0 {
				j = ve
				goto next
			}
		}
		if j = st.skip(vpos); j < 0 {
			return -1
		}
	next:
		j = skipWS(d, j)
		if j >= len(d) {
			return st.syntax(j, "unexpected end of JSON input")
		}
		switch d[j] {
		case ',':
			j = skipWS(d, j+1)
		case '}':
			end = j + 1
		default:
			return st.syntax(j, "expected ',' or '}' in object")
		}
	}
	if count < k.minP {
		return st.failN("minProperties", "object must have at least ", int64(k.minP), " properties")
	}
	for _, r := range k.required {
		if !k.seen(st, seen, bitBase, r) {
			return st.failS("required", "missing required property ", k.names.names[r], "")
		}
	}
	for _, dr := range k.depReq {
		if !k.seen(st, seen, bitBase, dr.name) {
			continue
		}
		for _, r := range dr.req {
			if !k.seen(st, seen, bitBase, r) {
				if st.recording() {
					st.failS(dr.kw, "property ", k.names.names[r], " is required when ")
					st.errMsg = append(st.errMsg, '\'')
					st.errMsg = append(st.errMsg, k.names.names[dr.name]...)
					st.errMsg = append(st.errMsg, "' is present"...)
				}
				return -1
			}
		}
	}
	for _, ds := range k.depSch {
		if !k.seen(st, seen, bitBase, ds.name) {
			continue
		}
		// the object itself is validated again, at the same depth
		st.depth--
		e := ds.fn(st, pos)
		st.depth++
		if e < 0 {
			return -1
		}
	}
	return end
}

// --- arrays ---

type arrKW struct {
	prefix     []vfn
	items      vfn
	itemsFalse bool
	itemsKw    string
	minI, maxI int
	unique     bool
	contains   vfn
	minC, maxC int
}

func (c *compiler) arrayKW(ptr string, m map[string]any) (vfn, error) {
	k := &arrKW{minI: -1, maxI: -1, minC: 1, maxC: -1, itemsKw: "items"}
	used := false
	tuple := func(kw string) error {
		list, _ := m[kw].([]any)
		for i := range list {
			f, err := c.call(ptr, ptr+"/"+kw+"/"+strconv.Itoa(i), false)
			if err != nil {
				return err
			}
			k.prefix = append(k.prefix, f)
		}
		return nil
	}
	rest := func(kw string) error {
		v, ok := m[kw]
		if !ok {
			return nil
		}
		if b, ok := v.(bool); ok && c.draft == Draft4 {
			// draft 4 additionalItems: true/false is not a schema
			k.itemsFalse = !b
			k.itemsKw = kw
			return nil
		}
		f, err := c.sub(ptr, kw, false)
		if err != nil {
			return err
		}
		if b, ok := v.(bool); ok && !b {
			k.itemsFalse = true
			k.itemsKw = kw
			return nil
		}
		k.items = f
		return nil
	}
	if c.draft >= Draft2020 {
		if _, ok := m["prefixItems"]; ok {
			if err := tuple("prefixItems"); err != nil {
				return nil, err
			}
			used = true
		}
		if _, ok := m["items"]; ok {
			if _, isArr := m["items"].([]any); isArr {
				return nil, kwErr(ptr, "items", errors.New("must be a schema in 2020-12 (use prefixItems for tuples)"))
			}
			if err := rest("items"); err != nil {
				return nil, err
			}
			used = true
		}
	} else if v, ok := m["items"]; ok {
		used = true
		if _, isArr := v.([]any); isArr {
			if err := tuple("items"); err != nil {
				return nil, err
			}
			if err := rest("additionalItems"); err != nil {
				return nil, err
			}
		} else if err := rest("items"); err != nil {
			return nil, err
		}
	}
	var err error
	if k.minI, err = getCount(m, "minItems"); err != nil {
		return nil, kwErr(ptr, "minItems", err)
	}
	if k.maxI, err = getCount(m, "maxItems"); err != nil {
		return nil, kwErr(ptr, "maxItems", err)
	}
	k.unique, _ = m["uniqueItems"].(bool)
	used = used || k.minI > 0 || k.maxI >= 0 || k.unique
	if _, ok := m["contains"]; ok && c.draft >= Draft6 {
		f, err := c.sub(ptr, "contains", false)
		if err != nil {
			return nil, err
		}
		k.contains = f
		if c.draft >= Draft2019 {
			if n, err := getCount(m, "minContains"); err != nil {
				return nil, kwErr(ptr, "minContains", err)
			} else if n >= 0 {
				k.minC = n
			}
			if k.maxC, err = getCount(m, "maxContains"); err != nil {
				return nil, kwErr(ptr, "maxContains", err)
			}
		}
		used = true
	}
	if !used {
		return nil, nil
	}
	if k.minI < 0 {
		k.minI = 0
	}
	return k.validate, nil
}

func (k *arrKW) validate(st *state, pos int) int {
	if !st.enter(pos) {
		return -1
	}
	ib := len(st.items)
	end := k.scan(st, pos, ib)
	st.items = st.items[:ib]
	st.depth--
	return end
}

func (k *arrKW) scan(st *state, pos, ib int) int {
	d := st.doc
	j := skipWS(d, pos+1)
	n, matched := 0, 0
	end := -1
	if j < len(d) && d[j] == ']' {
		end = j + 1
	}
	for end < 0 {
		if k.maxI >= 0 && n >= k.maxI {
			return st.failN("maxItems", "array must have at most ", int64(k.maxI), " items")
		}
		var fn vfn
		if n < len(k.prefix) {
			fn = k.prefix[n]
		} else if k.itemsFalse {
			return st.failN(k.itemsKw, "array must have at most ", int64(len(k.prefix)), " items")
		} else {
			fn = k.items
		}
		var e int
		if fn != nil {
			if e = fn(st, j); e < 0 {
				st.pathIndex(n)
				return -1
			}
		} else if e = st.skip(j); e < 0 {
			return -1
		}
		if k.contains != nil {
			st.suppress++
			ok := k.contains(st, j) >= 0
			st.suppress--
			if st.fatal {
				return -1
			}
			if ok {
				matched++
				if k.maxC >= 0 && matched > k.maxC {
					return st.failN("maxContains", "array must contain at most ", int64(k.maxC), " matching items")
				}
			}
		}
		if k.unique {
			st.items = append(st.items, itemEnt{h: st.hashValue(j), pos: int32(j), idx: int32(n)})
		}
		n++
		j = skipWS(d, e)
		if j >= len(d) {
			return st.syntax(j, "unexpected end of JSON input")
		}
		switch d[j] {
		case ',':
			j = skipWS(d, j+1)
		case ']':
			end = j + 1
		default:
			return st.syntax(j, "expected ',' or ']' in array")
		}
	}
	if n < k.minI {
		return st.failN("minItems", "array must have at least ", int64(k.minI), " items")
	}
	if k.contains != nil && matched < k.minC {
		if k.minC == 1 {
			return st.fail("contains", "array does not contain a matching item")
		}
		return st.failN("minContains", "array must contain at least ", int64(k.minC), " matching items")
	}
	if k.unique {
		if a, b, dup := st.duplicateItems(ib); dup {
			if st.recording() {
				st.failN("uniqueItems", "items at index ", int64(a), " and ")
				st.errMsg = strconv.AppendInt(st.errMsg, int64(b), 10)
				st.errMsg = append(st.errMsg, " are equal"...)
			}
			return -1
		}
	}
	return end
}
