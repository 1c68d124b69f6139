package accesslog

import (
	"bytes"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/template"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Options configure the access log. The zero value of each field is its
// default.
type Options struct {
	// Path is "stdout", "stderr" or a file (appended to, reopened by Reopen).
	Path string
	// Buffer is the queue length (default 8192); beyond it lines are dropped.
	Buffer int
	// Headers are request headers whose (first) value is logged under
	// "headers" with lower-case names; absent ones are left out.
	Headers []string
	// RedactHeaders are logged as "REDACTED" when present, in addition to
	// Authorization, Proxy-Authorization and Cookie, which always are.
	RedactHeaders []string
	// CustomFields are top-level fields rendered from templates
	// (`user_id: "$(jwt.sub)"`, see filters/template); an absent value is
	// written as null. They replace Kong's custom_fields_by_lua.
	CustomFields map[string]string
	// Dropped, when set, is incremented for every line lost: dropped
	// because the queue was full, or not (completely) written because a
	// write failed (e.g. edgeguard_access_log_dropped_total).
	Dropped *metrics.Counter
	// ErrorLog receives write errors (at most one record per ErrorLogEvery,
	// with the lines lost since the last one) and failed reopens; nil is
	// slog.Default().
	ErrorLog *slog.Logger
}

// OptionError is a problem with one field of Options; Field is the config
// path below access_log ("headers[1]", "custom_fields.user_id").
type OptionError struct {
	Field, Msg string
	// key is the config key (headers, redact_headers, custom_fields), index
	// the list index (-1: none), name the custom field.
	key   string
	index int
	name  string
}

func (e OptionError) Error() string { return "access_log." + e.Field + ": " + e.Msg }

// ReportOptions records every problem with o at its place below n, the
// `access_log` config node (e.g. `edgeguard.yaml:7:21:
// access_log.custom_fields.user_id: template "$(jwt)": …`).
func ReportOptions(n confnode.Node, o Options) {
	for _, p := range CheckOptions(o) {
		at := n.Field(p.key)
		switch {
		case p.index >= 0:
			at = at.Index(p.index)
		case p.name != "":
			at = at.Field(p.name)
		}
		at.Errorf("%s", p.Msg)
	}
}

// CheckOptions reports every problem with o, for config validation.
func CheckOptions(o Options) []OptionError {
	_, probs := compileExtras(o)
	return probs
}

type problemsError []OptionError

func (p problemsError) Error() string {
	msgs := make([]string, len(p))
	for i, e := range p {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// maxExtras bounds headers plus custom fields.
const maxExtras = 32

// maxExtraValue caps one logged header or field value.
const maxExtraValue = 1024

// alwaysRedacted are never written to the log, lower case.
var alwaysRedacted = []string{"authorization", "proxy-authorization", "cookie"}

// builtinFields are the keys AppendJSON writes; custom fields may not reuse them.
var builtinFields = []string{"time", "request_id", "client_ip", "method", "host", "path", "status", "bytes_in", "bytes_out",
	"route", "service", "consumer", "upstream", "upstream_error", "rejected_by", "reason", "latency_ms", "user_agent", "headers"}

// Extras are the compiled headers and custom fields of a Logger; immutable.
type Extras struct {
	headers []extraHeader
	fields  []extraField
}

type extraHeader struct {
	name   []byte // as configured, for Peek
	key    string // lower case, the JSON key
	redact bool
}

type extraField struct {
	key string
	tpl *template.Template
}

func compileExtras(o Options) (*Extras, []OptionError) {
	var probs []OptionError
	bad := func(field, format string, args ...any) {
		e := OptionError{Field: field, Msg: fmt.Sprintf(format, args...), index: -1}
		e.key, e.name, _ = strings.Cut(field, ".")
		if k, idx, ok := strings.Cut(e.key, "["); ok {
			e.key = k
			fmt.Sscanf(idx, "%d]", &e.index)
		}
		probs = append(probs, e)
	}
	redact := append([]string(nil), alwaysRedacted...)
	for i, h := range o.RedactHeaders {
		if !template.IsHeaderName(h) {
			bad(fmt.Sprintf("redact_headers[%d]", i), "invalid header name %q", h)
			continue
		}
		redact = append(redact, strings.ToLower(h))
	}
	isRedacted := func(lower string) bool {
		for _, r := range redact {
			if r == lower {
				return true
			}
		}
		return false
	}
	if len(o.Headers)+len(o.CustomFields) > maxExtras {
		bad("headers", "at most %d headers and custom fields together", maxExtras)
		return nil, probs
	}
	ext := &Extras{}
	seen := map[string]bool{}
	for i, h := range o.Headers {
		lower := strings.ToLower(h)
		switch {
		case !template.IsHeaderName(h):
			bad(fmt.Sprintf("headers[%d]", i), "invalid header name %q", h)
		case seen[lower]:
			bad(fmt.Sprintf("headers[%d]", i), "%s is listed twice", h)
		default:
			seen[lower] = true
			ext.headers = append(ext.headers, extraHeader{name: []byte(h), key: lower, redact: isRedacted(lower)})
		}
	}
	names := make([]string, 0, len(o.CustomFields))
	for k := range o.CustomFields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		field := "custom_fields." + k
		if !validKey(k) {
			bad(field, "field names may contain only letters, digits, '_', '-' and '.'")
			continue
		}
		reserved := false
		for _, b := range builtinFields {
			if k == b {
				reserved = true
			}
		}
		if reserved {
			bad(field, "%q is a built-in field of the access log", k)
			continue
		}
		tpl, err := template.Compile(o.CustomFields[k])
		if err != nil {
			bad(field, "%v", err)
			continue
		}
		ok := true
		for _, v := range tpl.Vars() {
			if what := template.ReadsRedacted(v, isRedacted); what != "" {
				bad(field, "template reads %s, which is redacted from logs", what)
				ok = false
			}
		}
		if ok {
			ext.fields = append(ext.fields, extraField{key: k, tpl: tpl})
		}
	}
	if len(ext.headers)+len(ext.fields) == 0 {
		ext = nil
	}
	return ext, probs
}

func validKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Capture records the configured headers and renders the custom fields of
// the request c into e. Call it on the request path before Submit, while c
// is valid; it allocates nothing once e's buffer has grown.
func (l *Logger) Capture(e *Entry, c *filters.Ctx) {
	x := l.ext
	e.ext = x
	if x == nil {
		return
	}
	e.extra = e.extra[:0]
	i := 0
	for _, h := range x.headers {
		var v []byte
		if h.key == "cookie" {
			// Peek("Cookie") rebuilds the header (allocating); only its
			// presence is logged.
			if hasCookie(&c.RC.Request.Header) {
				v = redactedValue
			}
		} else {
			v = c.RC.Request.Header.PeekBytes(h.name)
		}
		switch {
		case len(v) == 0:
			e.vals[i] = extraVal{}
		case h.redact:
			e.vals[i] = extraVal{state: valRedacted}
		default:
			e.vals[i] = e.addExtra(v)
		}
		i++
	}
	for _, f := range x.fields {
		off := len(e.extra)
		var ok bool
		e.extra, ok = f.tpl.AppendRender(e.extra, c)
		if len(e.extra)-off > maxExtraValue {
			e.extra = e.extra[:off+maxExtraValue]
		}
		st := valPresent
		if !ok {
			st = valAbsent
		}
		e.vals[i] = extraVal{off: int32(off), n: int32(len(e.extra) - off), state: st}
		i++
	}
}

var redactedValue = []byte("REDACTED")

// hasCookie reports whether the request came with a Cookie header. The
// proxy deletes the parsed Cookie header before the line is captured (it
// forwards the raw lines instead), so the raw headers are looked at too.
func hasCookie(h *fasthttp.RequestHeader) bool {
	for range h.Cookies() {
		return true
	}
	return rawHasHeader(h.RawHeaders(), "cookie")
}

// rawHasHeader reports whether raw, header lines as received, holds a
// non-empty header named name (lower case).
func rawHasHeader(raw []byte, name string) bool {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		c := bytes.IndexByte(line, ':')
		if c == len(name) && asciiEqualFold(line[:c], name) && len(bytes.TrimSpace(line[c+1:])) > 0 {
			return true
		}
	}
	return false
}

func asciiEqualFold(b []byte, lower string) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func (e *Entry) addExtra(v []byte) extraVal {
	if len(v) > maxExtraValue {
		v = v[:maxExtraValue]
	}
	off := len(e.extra)
	e.extra = append(e.extra, v...)
	return extraVal{off: int32(off), n: int32(len(v)), state: valPresent}
}

// appendJSON appends `,"headers":{…}` and the custom fields.
func (x *Extras) appendJSON(b []byte, e *Entry) []byte {
	i := 0
	if len(x.headers) > 0 {
		b = append(b, `,"headers":{`...)
		first := true
		for _, h := range x.headers {
			v := e.vals[i]
			i++
			if v.state == valAbsent {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = filters.AppendJSONString(b, h.key)
			b = append(b, ':')
			if v.state == valRedacted {
				b = append(b, `"REDACTED"`...)
			} else {
				b = filters.AppendJSONString(b, b2s(e.extra[v.off:v.off+v.n]))
			}
		}
		b = append(b, '}')
	}
	for _, f := range x.fields {
		v := e.vals[i]
		i++
		b = append(b, ',')
		b = filters.AppendJSONString(b, f.key)
		b = append(b, ':')
		if v.state == valAbsent {
			b = append(b, "null"...)
		} else {
			b = filters.AppendJSONString(b, b2s(e.extra[v.off:v.off+v.n]))
		}
	}
	return b
}
