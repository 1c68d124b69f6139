package httplog

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/template"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// layout is what an instance adds to Kong's entry: custom fields and the
// headers it redacts. It is immutable after New.
type layout struct {
	fields []field
	tree   []*fieldNode
	redact [][]byte // lower case
	// redactQuery are the query parameters whose values are redacted
	// (lower case).
	redactQuery     [][]byte
	redactQueryLens uint64 // nameLens(redactQuery)
}

type field struct {
	name string
	tpl  *template.Template
}

// fieldNode is a custom field (field >= 0) or an object of them.
type fieldNode struct {
	key      string
	field    int
	children []*fieldNode
}

// builtinKeys are the top-level keys of an entry; custom fields may not
// replace them.
var builtinKeys = []string{"request", "response", "latencies", "upstream_uri", "upstream_status", "route", "service",
	"consumer", "client_ip", "started_at", "edgeguard"}

func compileLayout(c Config, cfg confnode.Node) *layout {
	lay := &layout{}
	for _, h := range alwaysRedacted {
		lay.redact = append(lay.redact, []byte(h))
	}
	rn := cfg.Field("redact_headers")
	for i, h := range c.RedactHeaders {
		if !template.IsHeaderName(h) {
			rn.Index(i).Errorf("%s: invalid header name %q", Name, h)
			continue
		}
		lay.redact = append(lay.redact, []byte(strings.ToLower(h)))
	}
	rq := defaultRedactQuery
	if c.RedactQuery != nil {
		rq = *c.RedactQuery
	}
	qn := cfg.Field("redact_query")
	for i, name := range rq {
		if name == "" || len(name) > maxQueryName {
			qn.Index(i).Errorf("%s: query parameter name must have 1 to %d bytes", Name, maxQueryName)
			continue
		}
		lay.redactQuery = append(lay.redactQuery, []byte(strings.ToLower(name)))
	}
	lay.redactQueryLens = nameLens(lay.redactQuery)
	names := make([]string, 0, len(c.CustomFields))
	for k := range c.CustomFields {
		names = append(names, k)
	}
	sort.Strings(names)
	fn := cfg.Field("custom_fields")
	if len(names) > maxCustom {
		cfg.FieldErrorf("custom_fields", "%s: at most %d fields", Name, maxCustom)
		return lay
	}
	root := &fieldNode{field: -1}
	for _, name := range names {
		n := fn.Field(name)
		segs := strings.Split(name, ".")
		bad := false
		for _, s := range segs {
			if s == "" {
				bad = true
			}
		}
		if bad {
			n.Errorf("%s: invalid field name %q (empty segment)", Name, name)
			continue
		}
		for _, b := range builtinKeys {
			if segs[0] == b {
				n.Errorf("%s: %q would replace the built-in field %q", Name, name, b)
				bad = true
			}
		}
		tpl, err := template.Compile(c.CustomFields[name])
		if err != nil {
			n.Errorf("%s: %v", Name, err)
			continue
		}
		for _, v := range tpl.Vars() {
			if h := template.ReadsRedacted(v, func(name string) bool { return containsName(lay.redact, name) }); h != "" {
				n.Errorf("%s: template reads %s, which is redacted from logs", Name, h)
				bad = true
			}
			if q := queryVar(v); q != "" && redactsName(lay.redactQuery, []byte(q)) {
				n.Errorf("%s: template reads query parameter %s, which is redacted from logs (redact_query)", Name, q)
				bad = true
			}
		}
		if bad {
			continue
		}
		// insert into the tree
		node := root
		for i, s := range segs {
			var child *fieldNode
			for _, ch := range node.children {
				if ch.key == s {
					child = ch
				}
			}
			last := i == len(segs)-1
			if child == nil {
				child = &fieldNode{key: s, field: -1}
				node.children = append(node.children, child)
			} else if last || child.field >= 0 {
				n.Errorf("%s: %q conflicts with another custom field", Name, name)
				bad = true
				break
			}
			node = child
		}
		if bad {
			continue
		}
		node.field = len(lay.fields)
		lay.fields = append(lay.fields, field{name: name, tpl: tpl})
	}
	lay.tree = root.children
	return lay
}

func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// encoder holds the scratch space of one sender goroutine.
type encoder struct {
	kvs     []kv
	scratch []byte
}

type kv struct {
	name, value []byte
	hasValue    bool
}

var redacted = []byte("REDACTED")

var defaultRedactQueryNames = func() [][]byte {
	var out [][]byte
	for _, n := range defaultRedactQuery {
		out = append(out, []byte(n))
	}
	return out
}()

// queryVar returns the parameter a template variable reads from the query
// string (query.<name> and Kong's query_params forms), or "".
func queryVar(v string) string {
	lv := strings.ToLower(v)
	switch {
	case strings.HasPrefix(lv, "query."):
		return v[len("query."):]
	case strings.HasPrefix(lv, "query_params."):
		return v[len("query_params."):]
	case strings.HasPrefix(lv, "query_params["):
		return strings.Trim(v[len("query_params"):], `[]"'`)
	}
	return ""
}

var defaultRedactQueryLens = nameLens(defaultRedactQueryNames)

// nameLens returns the set of the names' lengths, a bit per length.
func nameLens(names [][]byte) (m uint64) {
	for _, n := range names {
		m |= 1 << len(n)
	}
	return m
}

// maxQueryName bounds the length of a redact_query name (nameLens).
const maxQueryName = 63

// appendRedactedQuery appends the query string q with the values of the
// parameters lay redacts replaced by REDACTED (a nil layout redacts the
// default ones). Names are compared decoded (`%6Awt` is jwt, as the jwt
// plugin reads it) and case-insensitively.
func appendRedactedQuery(dst, q []byte, lay *layout) []byte {
	list, lens := defaultRedactQueryNames, defaultRedactQueryLens
	if lay != nil {
		list, lens = lay.redactQuery, lay.redactQueryLens
	}
	if len(list) == 0 {
		return append(dst, q...)
	}
	var nb [3 * maxQueryName]byte
	for first := true; len(q) > 0; first = false {
		part := q
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			q = nil
		}
		if !first {
			dst = append(dst, '&')
		}
		eq := bytes.IndexByte(part, '=')
		if eq < 0 {
			dst = append(dst, part...)
			continue
		}
		k := part[:eq]
		// most names have no escapes and a length no redacted name has
		name := k
		if len(k) <= len(nb) && (bytes.IndexByte(k, '%') >= 0 || bytes.IndexByte(k, '+') >= 0) {
			name = fasthttp.AppendUnquotedArg(nb[:0], k)
		} else if len(k) > maxQueryName || lens&(1<<len(k)) == 0 {
			dst = append(dst, part...)
			continue
		}
		if redactsName(list, name) {
			dst = append(dst, k...)
			dst = append(dst, '=')
			dst = append(dst, redacted...)
			continue
		}
		dst = append(dst, part...)
	}
	return dst
}

func redactsName(list [][]byte, name []byte) bool {
	for _, r := range list {
		if len(r) == len(name) && bytes.EqualFold(r, name) {
			return true
		}
	}
	return false
}

var defaultRedact = func() [][]byte {
	var out [][]byte
	for _, h := range alwaysRedacted {
		out = append(out, []byte(h))
	}
	return out
}()

// appendEntry appends e as a JSON object in Kong's shape.
func (enc *encoder) appendEntry(b []byte, e *entry) []byte {
	buf := e.buf
	scheme := "http://"
	if e.tls {
		scheme = "https://"
	}
	b = append(b, `{"request":{"id":`...)
	b = filters.AppendJSONString(b, b2s(e.id.of(buf)))
	b = append(b, `,"method":`...)
	b = filters.AppendJSONString(b, b2s(e.method.of(buf)))
	// uri and url: path plus query
	enc.scratch = append(enc.scratch[:0], e.path.of(buf)...)
	if q := e.query.of(buf); len(q) > 0 {
		enc.scratch = append(enc.scratch, '?')
		enc.scratch = append(enc.scratch, q...)
	}
	b = append(b, `,"uri":`...)
	b = filters.AppendJSONString(b, b2s(enc.scratch))
	n := len(enc.scratch)
	enc.scratch = append(enc.scratch, scheme...)
	enc.scratch = append(enc.scratch, e.host.of(buf)...)
	enc.scratch = append(enc.scratch, enc.scratch[:n]...)
	b = append(b, `,"url":`...)
	b = filters.AppendJSONString(b, b2s(enc.scratch[n:]))
	b = append(b, `,"querystring":`...)
	b = enc.appendQuery(b, e.query.of(buf))
	b = append(b, `,"headers":`...)
	b = enc.appendHeaders(b, e.reqHdr, false, e.lay)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, e.reqSize, 10)
	b = append(b, `},"response":{"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"headers":`...)
	b = enc.appendHeaders(b, e.respHdr, true, e.lay)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, e.respSize, 10)
	b = append(b, `},"latencies":{"kong":`...)
	b = strconv.AppendInt(b, (e.total - e.upstream).Milliseconds(), 10)
	b = append(b, `,"proxy":`...)
	if e.proxied {
		b = strconv.AppendInt(b, e.upstream.Milliseconds(), 10)
	} else {
		b = append(b, "-1"...)
	}
	b = append(b, `,"request":`...)
	b = strconv.AppendInt(b, e.total.Milliseconds(), 10)
	b = append(b, `},"upstream_uri":`...)
	enc.scratch = append(enc.scratch[:0], e.upPath.of(buf)...)
	if q := e.query.of(buf); len(q) > 0 {
		enc.scratch = append(enc.scratch, '?')
		enc.scratch = append(enc.scratch, q...)
	}
	b = filters.AppendJSONString(b, b2s(enc.scratch))
	if e.upstreamStatus != 0 {
		b = append(b, `,"upstream_status":`...)
		b = strconv.AppendInt(b, int64(e.upstreamStatus), 10)
	}
	if e.route != "" {
		b = append(b, `,"route":{"name":`...)
		b = filters.AppendJSONString(b, e.route)
		b = append(b, '}')
	}
	if e.service != "" {
		b = append(b, `,"service":{"name":`...)
		b = filters.AppendJSONString(b, e.service)
		b = append(b, '}')
	}
	if c := e.consumer; c != nil {
		b = append(b, `,"consumer":{"id":`...)
		b = filters.AppendJSONString(b, c.ID)
		b = append(b, `,"username":`...)
		b = filters.AppendJSONString(b, c.Username)
		if c.CustomID != "" {
			b = append(b, `,"custom_id":`...)
			b = filters.AppendJSONString(b, c.CustomID)
		}
		b = append(b, '}')
	}
	b = append(b, `,"client_ip":"`...)
	if e.clientIP.IsValid() {
		b = e.clientIP.Unmap().AppendTo(b)
	}
	b = append(b, `","started_at":`...)
	b = strconv.AppendInt(b, e.start.UnixMilli(), 10)
	if e.rejectedBy != "" || e.upstreamErr != "" {
		b = append(b, `,"edgeguard":{`...)
		sep := false
		for _, p := range [...][2]string{{"rejected_by", e.rejectedBy}, {"reason", e.reason}, {"upstream_error", e.upstreamErr}} {
			if p[1] == "" {
				continue
			}
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = filters.AppendJSONString(b, p[0])
			b = append(b, ':')
			b = filters.AppendJSONString(b, p[1])
		}
		b = append(b, '}')
	}
	if e.lay != nil {
		for _, n := range e.lay.tree {
			b = append(b, ',')
			b = appendField(b, n, e)
		}
	}
	return append(b, '}')
}

func appendField(b []byte, n *fieldNode, e *entry) []byte {
	b = filters.AppendJSONString(b, n.key)
	b = append(b, ':')
	if n.field >= 0 {
		if e.customOK&(1<<n.field) == 0 {
			return append(b, "null"...)
		}
		return filters.AppendJSONString(b, b2s(e.custom[n.field].of(e.buf)))
	}
	b = append(b, '{')
	for i, ch := range n.children {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendField(b, ch, e)
	}
	return append(b, '}')
}

const maxPairs = 100

// appendHeaders parses a header block (after a status line when
// statusLine is set) and appends a JSON object of lower-case names;
// repeated headers become arrays, redacted values "REDACTED" (one per
// line: two Authorization lines give ["REDACTED","REDACTED"]).
func (enc *encoder) appendHeaders(b []byte, block []byte, statusLine bool, lay *layout) []byte {
	enc.kvs = enc.kvs[:0]
	if statusLine {
		block = afterLine(block)
	}
	for len(block) > 0 && len(enc.kvs) < maxPairs {
		line := block
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i], block[i+1:]
		} else {
			block = nil
		}
		line = bytes.TrimRight(line, "\r")
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		name := bytes.TrimSpace(line[:c])
		lowerASCII(name) // the block is the entry's own copy
		enc.kvs = append(enc.kvs, kv{name: name, value: bytes.TrimSpace(line[c+1:]), hasValue: true})
	}
	return enc.appendPairs(b, true, lay)
}

func lowerASCII(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// appendQuery appends the query string as Kong does: a JSON object of
// decoded names; a name without "=" is true, repeated names are arrays.
func (enc *encoder) appendQuery(b []byte, q []byte) []byte {
	enc.kvs = enc.kvs[:0]
	// decode into one scratch buffer; kvs point into it, so size it first
	enc.scratch = enc.scratch[:0]
	if cap(enc.scratch) < 2*len(q) {
		enc.scratch = make([]byte, 0, 2*len(q)+64)
	}
	for len(q) > 0 && len(enc.kvs) < maxPairs {
		part := q
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			q = nil
		}
		if len(part) == 0 {
			continue
		}
		var p kv
		k, v, has := bytes.Cut(part, []byte{'='})
		off := len(enc.scratch)
		enc.scratch = fasthttp.AppendUnquotedArg(enc.scratch, k)
		p.name = enc.scratch[off:len(enc.scratch):len(enc.scratch)]
		if has {
			off = len(enc.scratch)
			enc.scratch = fasthttp.AppendUnquotedArg(enc.scratch, v)
			p.value = enc.scratch[off:len(enc.scratch):len(enc.scratch)]
			p.hasValue = true
		}
		enc.kvs = append(enc.kvs, p)
	}
	return enc.appendPairs(b, false, nil)
}

// appendPairs writes enc.kvs as a JSON object grouping repeated names.
func (enc *encoder) appendPairs(b []byte, headers bool, lay *layout) []byte {
	b = append(b, '{')
	first := true
	kvs := enc.kvs
	for i := range kvs {
		name := kvs[i].name
		dup := false
		for j := 0; j < i; j++ {
			if bytes.Equal(kvs[j].name, name) {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = filters.AppendJSONString(b, b2s(name))
		b = append(b, ':')
		red := headers && lay.redacts(name)
		count := 0
		for j := i; j < len(kvs); j++ {
			if bytes.Equal(kvs[j].name, name) {
				count++
			}
		}
		if count > 1 {
			b = append(b, '[')
		}
		k := 0
		for j := i; j < len(kvs); j++ {
			if !bytes.Equal(kvs[j].name, name) {
				continue
			}
			if k > 0 {
				b = append(b, ',')
			}
			k++
			if red {
				b = filters.AppendJSONString(b, b2s(redacted))
			} else if kvs[j].hasValue {
				b = filters.AppendJSONString(b, b2s(kvs[j].value))
			} else {
				b = append(b, "true"...)
			}
		}
		if count > 1 {
			b = append(b, ']')
		}
	}
	return append(b, '}')
}

// redacts reports whether a header is redacted; a nil layout redacts the
// always-redacted headers.
func (l *layout) redacts(lowerName []byte) bool {
	list := defaultRedact
	if l != nil {
		list = l.redact
	}
	for _, r := range list {
		if bytes.Equal(r, lowerName) {
			return true
		}
	}
	return false
}

func containsName(list [][]byte, name string) bool {
	for _, r := range list {
		if name == string(r) {
			return true
		}
	}
	return false
}
