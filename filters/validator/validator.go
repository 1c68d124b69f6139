// Package validator is the `request-validator` plugin: it rejects requests
// whose parameters or JSON body do not conform to a JSON Schema, with Kong's
// field names, statuses (always 400, 413 for an oversized body) and bodies.
//
// The body schema is compiled at config load by package schema into
// closures that validate the raw body bytes in one pass (no document tree,
// no allocation for a valid body); schemas using keywords outside that fast
// path are validated by github.com/santhosh-tekuri/jsonschema/v6 instead.
// The article's schema works as written: without `version` a JSON Schema
// object is read as JSON Schema ($schema, else 2020-12), where Kong would
// want `version: draft4`.
//
// Order of checks, as in Kong: parameters, then Content-Type, then body.
// A Filter is immutable and safe for concurrent use; Access allocates
// nothing on the success path once its pools are warm.
package validator

import (
	"bytes"
	"io"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/validator/schema"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Name is the plugin name.
const Name = "request-validator"

func init() {
	filters.Register(&filters.Plugin{Name: Name, New: New})
}

// Kong's messages.
const (
	msgBody        = "request body doesn't conform to schema"
	msgParam       = "request param doesn't conform to schema"
	msgNotJSON     = "request body is not valid JSON"
	msgContentType = "specified Content-Type is not allowed"
	msgTooLarge    = "Request size limit exceeded"
)

// Rejection reasons (Ctx.RejectReason and the metrics label).
const (
	ReasonParam       = "param_invalid"
	ReasonContentType = "content_type"
	ReasonMalformed   = "body_malformed"
	ReasonBody        = "body_invalid"
	ReasonTooLarge    = "body_too_large"
)

// Filter is a compiled request-validator instance.
type Filter struct {
	body         *schema.Schema // nil: no body_schema
	allowed      []allowedType
	ctParams     bool
	params       []*paramSpec
	tmpl         *pathTemplate
	verbose      bool
	maxBody      int64
	hasPathParam bool

	rejected map[string]*metrics.Counter
	passed   *metrics.Counter
}

// New builds a request-validator from its config node.
func New(n confnode.Node, env *filters.Env) (filters.Filter, error) {
	var cfg Config
	var f *Filter
	if !filters.DecodeConfig(n, &cfg, func() { f = compile(n, &cfg) }) || f == nil {
		return nil, nil
	}
	f.attach(env)
	return f, nil
}

// Compile validates cfg (decoded from n) and builds the filter; problems
// are recorded on n and nil is returned. env may be nil (no metrics, no
// log).
func Compile(n confnode.Node, cfg *Config, env *filters.Env) *Filter {
	f := compile(n, cfg)
	if f != nil {
		f.attach(env)
	}
	return f
}

// compile is Compile without env: it validates cfg and builds the filter,
// or records problems on n and returns nil.
func compile(n confnode.Node, cfg *Config) *Filter {
	before := len(n.Errs.List)
	f := &Filter{verbose: cfg.VerboseResponse, maxBody: int64(cfg.MaxBodySize), ctParams: true}
	if f.maxBody == 0 {
		f.maxBody = DefaultMaxBodySize
	}
	if cfg.MaxDepth < 0 || cfg.MaxDepth > 10000 {
		n.FieldErrorf("max_depth", "must be between 1 and 10000")
	}
	if cfg.ContentTypeParameterValidation != nil {
		f.ctParams = *cfg.ContentTypeParameterValidation
	}
	// A schema whose value failed to decode has its own error.
	failed := n.Errs.Has(n.Field("body_schema").Path) || n.Errs.Has(n.Field("parameter_schema").Path)
	if !cfg.BodySchema.set && len(cfg.ParameterSchema) == 0 && !failed {
		n.Errorf("one of body_schema or parameter_schema is required")
	}
	if _, ok := draftOf(cfg.Version); !ok {
		n.FieldErrorf("version", "must be kong, draft4, draft6, draft7, draft201909 or draft202012 (got %q)", cfg.Version)
	} else if cfg.BodySchema.set {
		f.body = compileSchema(n.Field("body_schema"), cfg.BodySchema.JSON, cfg.Version, schema.DefaultDraft, cfg.MaxDepth)
	}
	types := cfg.AllowedContentTypes
	if types == nil {
		types = []string{"application/json"}
	}
	for i, s := range types {
		a, err := parseAllowed(s)
		if err != nil {
			n.Field("allowed_content_types").Index(i).Errorf("%q: %v", s, err)
			continue
		}
		f.allowed = append(f.allowed, a)
	}
	f.tmpl = parsePathTemplate(n, cfg.PathTemplate)
	f.params = compileParams(n, cfg, f.tmpl)
	for _, p := range f.params {
		f.hasPathParam = f.hasPathParam || p.in == 'p'
	}
	if len(n.Errs.List) != before {
		return nil
	}
	return f
}

// attach logs how the body schema runs and creates the filter's metrics
// (nothing for a nil env).
func (f *Filter) attach(env *filters.Env) {
	if env != nil && env.Logger != nil && f.body != nil {
		if !f.body.Fast() {
			env.Logger.Info("request-validator: body_schema runs on the fallback validator",
				"instance", env.InstanceName, "reason", f.body.FallbackReason())
		}
		for _, w := range f.body.Warnings() {
			env.Logger.Warn("request-validator: body_schema: "+w, "instance", env.InstanceName)
		}
	}
	if env != nil && env.Metrics != nil {
		f.rejected = map[string]*metrics.Counter{}
		for _, r := range []string{ReasonParam, ReasonContentType, ReasonMalformed, ReasonBody, ReasonTooLarge} {
			f.rejected[r] = env.Metrics.GetOrCreateCounter(
				`edgeguard_request_validator_rejected_total{plugin="` + env.InstanceName + `",reason="` + r + `"}`)
		}
		f.passed = env.Metrics.GetOrCreateCounter(
			`edgeguard_request_validator_passed_total{plugin="` + env.InstanceName + `"}`)
	}
}

// work is the pooled per-request scratch of Access.
type work struct {
	buf  []byte // parameter documents, response bodies
	body []byte // a streamed body read into memory
	msg  []byte // verbose messages
	res  schema.Result
	offs [maxSegs][2]int
}

var workPool = sync.Pool{New: func() any { return &work{buf: make([]byte, 0, 512)} }}

const maxPooledBody = 1<<20 + 1

var emptyObject = []byte("{}")

// Access validates the request. See the package comment for the order.
func (f *Filter) Access(c *filters.Ctx) filters.Verdict {
	w := workPool.Get().(*work)
	v := f.access(c, w)
	if cap(w.body) > maxPooledBody {
		w.body = nil
	}
	w.body = w.body[:0]
	workPool.Put(w)
	if v == filters.Continue && f.passed != nil {
		f.passed.Inc()
	}
	return v
}

func (f *Filter) access(c *filters.Ctx, w *work) filters.Verdict {
	if len(f.params) > 0 {
		if v := f.checkParams(c, w); v != filters.Continue {
			return v
		}
	}
	if f.body == nil {
		return filters.Continue
	}
	req := &c.RC.Request

	// Body size first: never read more than the limit.
	limit, by := f.maxBody, ""
	if c.BodyLimit > 0 && c.BodyLimit < limit {
		limit, by = c.BodyLimit, c.BodyLimitBy
	}
	if cl := req.Header.ContentLength(); cl > 0 && int64(cl) > limit {
		return f.tooLarge(c, by)
	}

	ct := req.Header.ContentType()
	var mt ctView
	if len(ct) == 0 {
		if req.Header.ContentLength() == 0 && !req.IsBodyStream() && len(req.Body()) == 0 {
			// no body at all: validated as {} (Kong's empty body)
			return f.validate(c, w, emptyObject)
		}
		return f.reject(c, w, ReasonContentType, msgBody, msgContentType, nil)
	}
	if parseContentType(ct, &mt) != nil || !f.contentTypeAllowed(&mt) {
		return f.reject(c, w, ReasonContentType, msgBody, msgContentType, nil)
	}
	if !isJSON(&mt) {
		return filters.Continue // allowed, not JSON: not validated (Kong)
	}
	// Every Content-Encoding line counts: all of them are forwarded.
	for _, enc := range req.Header.PeekAll(fasthttp.HeaderContentEncoding) {
		if !identityOnly(enc) {
			return f.reject(c, w, ReasonMalformed, msgNotJSON, "compressed request bodies (Content-Encoding) cannot be validated", nil)
		}
	}

	var body []byte
	if req.IsBodyStream() {
		b, v := f.readStream(c, w, limit, by)
		if v != filters.Continue {
			return v
		}
		body = b
	} else {
		body = req.Body()
		if int64(len(body)) > limit {
			return f.tooLarge(c, by)
		}
	}
	if len(skipSpace(body)) == 0 {
		body = emptyObject
	}
	return f.validate(c, w, body)
}

// identityOnly reports whether a Content-Encoding value lists no coding
// but identity (empty list elements are allowed, RFC 9110 5.6.1).
func identityOnly(v []byte) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		if i < 0 {
			i = len(v)
		}
		if e := bytes.Trim(v[:i], " \t"); len(e) > 0 && !equalFold(e, "identity") {
			return false
		}
		v = v[min(i+1, len(v)):]
	}
	return true
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// readStream reads a streamed body (fasthttp StreamRequestBody: chunked, or
// larger than the server's prefetch) into w.body, at most limit bytes plus
// one to detect an oversized body. The body read is put back on the request
// with SetBody (a copy, with its Content-Length), so the proxy forwards
// exactly the bytes that were validated; an oversized or broken body is
// refused and the connection closed, as the rest was not read.
func (f *Filter) readStream(c *filters.Ctx, w *work, limit int64, by string) ([]byte, filters.Verdict) {
	req := &c.RC.Request
	bs := req.BodyStream()
	buf := w.body[:0]
	for {
		if int64(len(buf)) > limit {
			w.body = buf
			c.RC.SetConnectionClose()
			return nil, f.tooLarge(c, by)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := cap(buf) - len(buf)
		if max := limit + 1 - int64(len(buf)); int64(room) > max {
			room = int(max)
		}
		n, err := bs.Read(buf[len(buf) : len(buf)+room])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			w.body = buf
			c.RC.SetConnectionClose()
			return nil, f.reject(c, w, ReasonMalformed, msgNotJSON, "the request body could not be read", nil)
		}
	}
	w.body = buf
	if int64(len(buf)) > limit {
		c.RC.SetConnectionClose()
		return nil, f.tooLarge(c, by)
	}
	req.SetBody(buf)
	req.Header.SetContentLength(len(buf))
	return req.Body(), filters.Continue
}

func (f *Filter) contentTypeAllowed(mt *ctView) bool {
	for i := range f.allowed {
		if f.allowed[i].matches(mt, f.ctParams) {
			return true
		}
	}
	return false
}

func (f *Filter) validate(c *filters.Ctx, w *work, body []byte) filters.Verdict {
	if f.body.Check(body, &w.res) {
		return filters.Continue
	}
	if w.res.Kind == schema.Malformed {
		return f.reject(c, w, ReasonMalformed, msgNotJSON, "", &w.res)
	}
	return f.reject(c, w, ReasonBody, msgBody, "", &w.res)
}

func (f *Filter) checkParams(c *filters.Ctx, w *work) filters.Verdict {
	var path []byte
	if f.hasPathParam {
		path = c.RC.Path()
		if !f.tmpl.match(path, &w.offs) {
			return f.rejectParam(c, w, nil, "path does not match path_template", nil)
		}
	}
	for _, p := range f.params {
		doc, found := p.build(w.buf[:0], c, path, &w.offs)
		w.buf = doc
		if !found {
			if p.required {
				return f.rejectParam(c, w, p, "required parameter value not found in request", nil)
			}
			continue
		}
		if !p.s.Check(doc, &w.res) {
			return f.rejectParam(c, w, p, "", &w.res)
		}
	}
	return filters.Continue
}

func (f *Filter) tooLarge(c *filters.Ctx, by string) filters.Verdict {
	f.count(ReasonTooLarge)
	v := c.Reject(fasthttp.StatusRequestEntityTooLarge, ReasonTooLarge, msgTooLarge)
	if by != "" {
		c.RejectedBy = by
	}
	return v
}

func (f *Filter) count(reason string) {
	if f.rejected != nil {
		f.rejected[reason].Inc()
	}
}

// reject writes Kong's 400 body: {"message": msg}, or with
// verbose_response the detail (a fixed text, or the validator's path,
// keyword and message) as the message plus "path" and "keyword" fields.
func (f *Filter) reject(c *filters.Ctx, w *work, reason, msg, detail string, r *schema.Result) filters.Verdict {
	f.count(reason)
	b := append(w.buf[:0], `{"message":`...)
	if !f.verbose {
		b = appendJSONStr(b, msg)
		b = append(b, '}')
		w.buf = b
		return c.RejectBody(fasthttp.StatusBadRequest, reason, b)
	}
	switch {
	case detail != "":
		b = appendJSONStr(b, detail)
	case r != nil && r.Kind == schema.Malformed:
		m := append(w.msg[:0], msgNotJSON...)
		m = append(m, ": "...)
		m = append(m, r.Message...)
		m = append(m, " at offset "...)
		m = appendInt(m, r.Offset)
		b = appendJSONString(b, m)
	case r != nil:
		m := append(w.msg[:0], "property "...)
		if len(r.Path) == 0 {
			m = append(m, '/')
		}
		m = append(m, r.Path...)
		m = append(m, " validation failed: "...)
		m = append(m, r.Keyword...)
		m = append(m, ": "...)
		m = append(m, r.Message...)
		w.msg = m
		b = appendJSONString(b, m)
		b = append(b, `,"path":`...)
		b = appendJSONString(b, r.Path)
		b = append(b, `,"keyword":`...)
		b = appendJSONStr(b, r.Keyword)
	default:
		b = appendJSONStr(b, msg)
	}
	b = append(b, '}')
	w.buf = b
	return c.RejectBody(fasthttp.StatusBadRequest, reason, b)
}

// rejectParam writes Kong's parameter failure: `request param doesn't
// conform to schema`, or verbose `<in> '<name>' validation failed,
// [error] <detail>`.
func (f *Filter) rejectParam(c *filters.Ctx, w *work, p *paramSpec, detail string, r *schema.Result) filters.Verdict {
	f.count(ReasonParam)
	if !f.verbose {
		b := append(w.buf[:0], `{"message":`...)
		b = appendJSONStr(b, msgParam)
		b = append(b, '}')
		w.buf = b
		return c.RejectBody(fasthttp.StatusBadRequest, ReasonParam, b)
	}
	m := w.msg[:0]
	if p != nil {
		m = append(m, p.label...)
		m = append(m, " validation failed, [error] "...)
	}
	if r != nil {
		if r.Kind == schema.Malformed {
			m = append(m, "value is not valid: "...)
		} else {
			if len(r.Path) > 0 {
				m = append(m, r.Path...)
				m = append(m, ": "...)
			}
			m = append(m, r.Keyword...)
			m = append(m, ": "...)
		}
		m = append(m, r.Message...)
	} else {
		m = append(m, detail...)
	}
	w.msg = m
	b := append(w.buf[:0], `{"message":`...)
	b = appendJSONString(b, m)
	b = append(b, '}')
	w.buf = b
	return c.RejectBody(fasthttp.StatusBadRequest, ReasonParam, b)
}

func appendInt(dst []byte, v int) []byte {
	if v >= 10 {
		dst = appendInt(dst, v/10)
	}
	return append(dst, byte('0'+v%10))
}

var _ filters.Filter = (*Filter)(nil)

// Limit is the largest body the validator reads (its max_body_size) when
// it validates bodies, else 0. The gateway refuses a longer announced body
// before reading it: 417 to Expect: 100-continue, and 413 without waiting
// for the body (see proxy's continueHandler and headerReceived).
func (f *Filter) Limit() int64 {
	if f.body == nil {
		return 0
	}
	return f.maxBody
}
