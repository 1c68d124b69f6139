// Package transformer is the request-transformer plugin: Kong's field names
// and order (remove, rename, replace, add, append for headers and query
// string; http_method; replace.uri), with values that are templates
// (package template) such as `X-User-ID:$(jwt.sub)`.
//
// Unlike Kong, every header (and query argument) named in replace, add or
// append belongs to the gateway: a copy the client sent is always removed
// before the gateway sets its own, even when the template's variable is
// absent (the header is then not sent at all). A client can therefore never
// send its own X-User-ID. Values are rendered with template.AppendChecked:
// one with control characters (C0, C1, U+2028/U+2029, bidi controls),
// invalid UTF-8 or U+FFFD, or a claim that cannot be written unambiguously,
// is never forwarded (the header or argument is dropped and counted), and in
// replace.uri each value is percent-encoded as one path segment ("." and
// ".." answer 500). Host and the framing and hop-by-hop headers cannot be
// changed.
//
// The optional gateway_identity block adds a signed X-Gateway-Identity token
// (package gatewayid) that backends verify with package gatewayid/verify.
// Without a consumer or credential, client copies of the headers the jwt
// plugin sets (gatewayid.ConsumerHeaders) are removed first, as the token
// binds them.
//
// A Transformer is immutable after load and safe for concurrent use; Access
// does not allocate.
package transformer

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/gatewayid"
	"github.com/edgeguard/edgeguard/filters/template"
)

type rename struct {
	from, to   string
	fromQ, toQ []byte // query names as Args.AppendBytes encodes them
}

// valueOp is a compiled "name:value" entry.
type valueOp struct {
	name string
	key  []byte // header ops: the name in canonical form
	// mayExist (add ops) is set when a replace or an earlier add op has the
	// same name: only then can the header exist when the op runs.
	mayExist bool
	tpl      *template.Template
	lit      []byte // the value when the template has no variables
	isLit    bool
}

type ops struct {
	remove  []string
	rename  []rename
	replace []valueOp
	add     []valueOp
	append  []valueOp
	// owned are the names in replace/add/append: client copies are removed.
	owned []string
	// removeNames and ownedNames are remove and owned in canonical form
	// (headers only).
	removeNames, ownedNames filters.HeaderNames
	// cookie: remove names the Cookie header, the one op allowed on it
	// (headers only; see filters.Ctx.CookieEdited).
	cookie bool
}

func (o *ops) empty() bool {
	return len(o.remove)+len(o.rename)+len(o.replace)+len(o.add)+len(o.append) == 0
}

// Transformer is a compiled request-transformer instance.
type Transformer struct {
	method []byte
	uri    *template.Template
	hdr    ops
	qs     ops
	id     *gatewayid.Signer

	mInvalid *metrics.Counter
	mMissing *metrics.Counter
	mURI     *metrics.Counter
	mSigned  *metrics.Counter
}

func (t *Transformer) initMetrics(env *filters.Env) {
	set := metrics.NewSet()
	inst := "request-transformer"
	if env != nil {
		if env.Metrics != nil {
			set = env.Metrics
		}
		if env.InstanceName != "" {
			inst = env.InstanceName
		}
	}
	t.mInvalid = set.GetOrCreateCounter(fmt.Sprintf(`edgeguard_request_transformer_dropped_total{plugin=%q,reason="invalid_value"}`, inst))
	t.mMissing = set.GetOrCreateCounter(fmt.Sprintf(`edgeguard_request_transformer_dropped_total{plugin=%q,reason="missing_variable"}`, inst))
	t.mURI = set.GetOrCreateCounter(fmt.Sprintf(`edgeguard_request_transformer_errors_total{plugin=%q,reason="uri"}`, inst))
	if t.id != nil {
		t.mSigned = set.GetOrCreateCounter(fmt.Sprintf(`edgeguard_gateway_identity_signed_total{plugin=%q,algorithm=%q}`, inst, t.id.Algorithm()))
	}
}

// Signer returns the gateway identity signer, or nil when not configured.
func (t *Transformer) Signer() *gatewayid.Signer { return t.id }

// Access edits the request in Kong's order: uri, method, headers, query
// string (each remove, rename, replace, add, append), then adds the gateway
// identity token. It answers 500 only when replace.uri cannot be rendered.
func (t *Transformer) Access(c *filters.Ctx) filters.Verdict {
	h := &c.RC.Request.Header
	if t.id != nil && c.Consumer == nil && c.Credential == "" {
		// No authentication plugin set these (jwt removes client copies
		// and sets its own only with a consumer or a credential): what is
		// there came from the client, and the token would vouch for it.
		// Before the header ops, which may set them.
		consumerHeaders.Del(h, 0)
	}
	buf := c.Scratch[:0]
	if t.uri != nil {
		var st template.Status
		buf, st = t.uri.AppendChecked(buf, c, template.PathSegment)
		if st == template.OK && hasDotSegment(buf) {
			st = template.Invalid // a value next to a literal dot: "/x/.$(v)" with v "."
		}
		if st != template.OK {
			t.mURI.Inc()
			c.Scratch = buf[:0]
			if st == template.Invalid {
				return c.Reject(500, "transform_invalid_value", uriInvalidMsg)
			}
			return c.Reject(500, "transform_failed", "An unexpected error occurred")
		}
		c.URI().SetPathBytes(buf)
	}
	if t.method != nil {
		h.SetMethodBytes(t.method)
	}
	if !t.hdr.empty() {
		c.CookieEdited = c.CookieEdited || t.hdr.cookie
		buf = t.headers(c, buf)
	}
	if !t.qs.empty() {
		buf = t.query(c, buf)
	}
	if t.uri != nil || !t.qs.empty() {
		// Keep the header's request line in step with the edited URI for
		// a proxy that forwards either.
		h.SetRequestURIBytes(c.URI().RequestURI())
	}
	if t.id != nil {
		name := t.id.HeaderName()
		h.Del(name)
		buf = t.id.AppendToken(buf[:0], c)
		h.SetBytesV(name, buf)
		t.mSigned.Inc()
	}
	c.Scratch = buf[:0]
	return filters.Continue
}

func (t *Transformer) headers(c *filters.Ctx, buf []byte) []byte {
	h := &c.RC.Request.Header
	t.hdr.removeNames.Del(h, 0)
	for _, r := range t.hdr.rename {
		vals := h.PeekAll(r.from)
		if len(vals) == 0 {
			continue
		}
		// Copy first: after Del, fasthttp reuses the deleted entries'
		// buffers for the next Add.
		buf = buf[:0]
		for _, v := range vals {
			buf = binary.AppendUvarint(buf, uint64(len(v)))
			buf = append(buf, v...)
		}
		h.Del(r.from)
		h.Del(r.to)
		for rest := buf; len(rest) > 0; {
			n, k := binary.Uvarint(rest)
			rest = rest[k:]
			h.AddBytesV(r.to, rest[:n])
			rest = rest[n:]
		}
	}
	// Kong's replace applies only to headers the request has; note which
	// before the client's copies of gateway-owned headers go.
	var present uint64
	for i := range t.hdr.replace {
		if len(h.PeekAll(t.hdr.replace[i].name)) > 0 {
			present |= 1 << i
		}
	}
	t.hdr.ownedNames.Del(h, 0)
	var v []byte
	var ok bool
	for i := range t.hdr.replace {
		if present&(1<<i) == 0 {
			continue
		}
		op := &t.hdr.replace[i]
		if buf, v, ok = t.render(buf, op, c, true); ok {
			h.SetCanonical(op.key, v)
		}
	}
	for i := range t.hdr.add {
		op := &t.hdr.add[i]
		// The client's copy is gone (owned); only a replace or an earlier
		// add can have set it.
		if op.mayExist && len(h.PeekAll(op.name)) > 0 {
			continue
		}
		if buf, v, ok = t.render(buf, op, c, true); ok {
			h.SetCanonical(op.key, v)
		}
	}
	for i := range t.hdr.append {
		op := &t.hdr.append[i]
		if buf, v, ok = t.render(buf, op, c, true); ok {
			h.AddBytesV(op.name, v)
		}
	}
	return buf
}

func (t *Transformer) query(c *filters.Ctx, buf []byte) []byte {
	a := c.URI().QueryArgs()
	for _, name := range t.qs.remove {
		a.Del(name)
	}
	for i := range t.qs.rename {
		r := &t.qs.rename[i]
		if a.Has(r.from) {
			buf = renameArgs(a, r, buf)
		}
	}
	var present uint64
	for i := range t.qs.replace {
		if a.Has(t.qs.replace[i].name) {
			present |= 1 << i
		}
	}
	for _, name := range t.qs.owned {
		a.Del(name)
	}
	var v []byte
	var ok bool
	for i := range t.qs.replace {
		if present&(1<<i) == 0 {
			continue
		}
		op := &t.qs.replace[i]
		if buf, v, ok = t.render(buf, op, c, false); ok {
			a.AddBytesV(op.name, v)
		}
	}
	for i := range t.qs.add {
		op := &t.qs.add[i]
		if a.Has(op.name) {
			continue
		}
		if buf, v, ok = t.render(buf, op, c, false); ok {
			a.AddBytesV(op.name, v)
		}
	}
	for i := range t.qs.append {
		op := &t.qs.append[i]
		if buf, v, ok = t.render(buf, op, c, false); ok {
			a.AddBytesV(op.name, v)
		}
	}
	return buf
}

// renameArgs moves every value of r.from to r.to (dropping r.to's own
// values), as Kong does. fasthttp's Args iterator allocates a closure, so the
// arguments are serialized into buf, rewritten there and parsed back, which
// copies them: no allocation once buf has grown.
func renameArgs(a *fasthttp.Args, r *rename, buf []byte) []byte {
	buf = a.AppendBytes(buf[:0])
	n := len(buf)
	qs := buf[:n:n]
	for pass := 0; pass < 2; pass++ {
		for rest := qs; len(rest) > 0; {
			pair := rest
			if j := bytes.IndexByte(rest, '&'); j >= 0 {
				pair, rest = rest[:j], rest[j+1:]
			} else {
				rest = nil
			}
			key := pair
			if j := bytes.IndexByte(pair, '='); j >= 0 {
				key = pair[:j]
			}
			switch {
			case pass == 0 && !bytes.Equal(key, r.fromQ) && !bytes.Equal(key, r.toQ):
				buf = append(buf, pair...)
			case pass == 1 && bytes.Equal(key, r.fromQ):
				buf = append(buf, r.toQ...)
				buf = append(buf, pair[len(key):]...)
			default:
				continue
			}
			buf = append(buf, '&')
		}
	}
	a.ParseBytes(buf[n:])
	return buf
}

// render returns the value of op for c (in buf, or the literal). ok is false,
// and the drop counted, when a variable is missing or a value is unsafe
// (template.AppendChecked; literal text was checked at load).
func (t *Transformer) render(buf []byte, op *valueOp, c *filters.Ctx, header bool) (_, v []byte, ok bool) {
	if op.isLit {
		return buf, op.lit, true
	}
	var st template.Status
	buf, st = op.tpl.AppendChecked(buf[:0], c, template.Raw)
	switch st {
	case template.Missing:
		t.mMissing.Inc()
		return buf, nil, false
	case template.Invalid:
		t.mInvalid.Inc()
		return buf, nil, false
	}
	v = buf
	if header {
		v = trimOWS(v)
		if len(v) == 0 {
			t.mMissing.Inc()
			return buf, nil, false
		}
	}
	return buf, v, true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// consumerHeaders are gatewayid.ConsumerHeaders, which a signed token binds.
var consumerHeaders = filters.NewHeaderNames(gatewayid.ConsumerHeaders...)

// uriInvalidMsg is the 500 message when a value cannot be a path segment.
const uriInvalidMsg = "An unexpected error occurred: cannot build the upstream path from an invalid value"

// hasDotSegment reports whether path has a "." or ".." segment.
func hasDotSegment(path []byte) bool {
	for len(path) > 0 {
		seg := path
		if i := bytes.IndexByte(path, '/'); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = nil
		}
		if string(seg) == "." || string(seg) == ".." {
			return true
		}
	}
	return false
}

var _ filters.Filter = (*Transformer)(nil)
