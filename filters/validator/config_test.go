package validator

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

func TestConfigErrors(t *testing.T) {
	cases := []struct{ name, cfg, want string }{
		{"nothing", `verbose_response: true`, "one of body_schema or parameter_schema is required"},
		{"unknown field", "body_schema: '{}'\nbody_shema: x", `unknown field`},
		{"bad version", "body_schema: '{}'\nversion: draft5", "must be kong, draft4"},
		{"kong format", `body_schema: '[{"name":{"type":"string"}}]'`, "Kong's own schema format"},
		{"bad json", `body_schema: '{"type":'`, "not valid JSON"},
		{"duplicate key in schema", `body_schema: '{"type":"object","type":"string"}'`, "duplicate key"},
		{"bad keyword value", `body_schema: '{"minLength":-1}'`, "minLength"},
		{"lookahead", `body_schema: '{"pattern":"^(?=a)"}'`, "lookahead"},
		{"backreference", `body_schema: '{"pattern":"(a)\\1"}'`, "backreference"},
		{"version conflict", "version: draft4\nbody_schema: '{\"$schema\":\"http://json-schema.org/draft-07/schema#\"}'", "$schema says draft7 but version is draft4"},
		{"remote ref", `body_schema: '{"$ref":"http://example.com/s.json"}'`, "not allowed"},
		{"file ref", `body_schema: '{"$ref":"file:///etc/passwd"}'`, "not allowed"},
		{"unknown $schema", `body_schema: '{"$schema":"http://example.com/meta"}'`, "not a supported draft"},
		{"self loop", `body_schema: '{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}'`, "infinite recursion"},
		{"bad content type", "body_schema: '{}'\nallowed_content_types: [json]", "malformed media type"},
		{"suffix pattern", "body_schema: '{}'\nallowed_content_types: [application/json, 'application/*+json']", `test.yaml:2:43: config.allowed_content_types[1]: "application/*+json": a wildcard must be a whole type or subtype: use type/subtype (application/vnd.api+json), type/* or */*`},
		{"partial wildcard", "body_schema: '{}'\nallowed_content_types: ['app*/json']", `"app*/json": a wildcard must be a whole type or subtype`},
		{"bad param in", "parameter_schema:\n  - {name: a, in: cookie, schema: '{}'}", "must be query, header or path"},
		{"param without schema", "parameter_schema:\n  - {name: a, in: query}", "schema: is required"},
		{"path param without template", "parameter_schema:\n  - {name: id, in: path, schema: '{}'}", "path_template"},
		{"bad style", "parameter_schema:\n  - {name: a, in: header, style: form, schema: '{}'}", "support style simple"},
		{"2020 tuple items", `body_schema: '{"items":[{"type":"string"}]}'`, "items"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := filtertest.Build(filtertest.Env(t), Name, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "test.yaml:") {
				t.Errorf("error without position: %v", err)
			}
		})
	}
}

func TestYAMLSchemaAndVersions(t *testing.T) {
	yamlCfg := `
body_schema:
  type: object
  required: [name]
  properties:
    name: {type: string, maxLength: 3}
    n: {type: number, maximum: 1.5}
`
	f := build(t, yamlCfg)
	if got := run(f, post(`{"name":"abc","n":1.5}`, "application/json")); got.verdict != filters.Continue {
		t.Fatalf("rejected: %s", got.body)
	}
	if got := run(f, post(`{"name":"abcd"}`, "application/json")); got.status != 400 {
		t.Fatalf("maxLength not applied: %d", got.status)
	}
	if got := run(f, post(`{"name":"a","n":1.50001}`, "application/json")); got.status != 400 {
		t.Fatalf("maximum not applied: %d", got.status)
	}

	// draft4: boolean exclusiveMaximum
	f = build(t, "version: draft4\nbody_schema: '{\"maximum\": 10, \"exclusiveMaximum\": true}'")
	if got := run(f, post(`10`, "application/json")); got.status != 400 {
		t.Fatalf("draft4 exclusiveMaximum: 10 accepted")
	}
	if got := run(f, post(`9.99`, "application/json")); got.verdict != filters.Continue {
		t.Fatalf("draft4 exclusiveMaximum: 9.99 rejected")
	}
	// draft7: $ref siblings are ignored
	f = build(t, `version: draft7
body_schema: '{"definitions":{"s":{"type":"string"}},"properties":{"a":{"$ref":"#/definitions/s","maxLength":1}}}'`)
	if got := run(f, post(`{"a":"long"}`, "application/json")); got.verdict != filters.Continue {
		t.Fatalf("draft7: $ref sibling maxLength applied")
	}
	// 2020-12 (default): $ref siblings apply
	f = build(t, `body_schema: '{"$defs":{"s":{"type":"string"}},"properties":{"a":{"$ref":"#/$defs/s","maxLength":1}}}'`)
	if got := run(f, post(`{"a":"long"}`, "application/json")); got.status != 400 {
		t.Fatalf("2020-12: $ref sibling maxLength ignored")
	}
	// a schema the fast path does not cover runs on the fallback, never accepted blindly
	f = build(t, `body_schema: '{"properties":{"a":true},"unevaluatedProperties":false}'`)
	if f.(*Filter).body.Fast() {
		t.Fatal("unevaluatedProperties on the fast path")
	}
	if got := run(f, post(`{"a":1,"b":2}`, "application/json")); got.status != 400 {
		t.Fatalf("fallback accepted an invalid body")
	}
	if got := run(f, post(`{"a":1}`, "application/json")); got.verdict != filters.Continue {
		t.Fatalf("fallback rejected a valid body: %s", got.body)
	}
	if got := run(f, post(`{"a":1,"a":1}`, "application/json")); got.body != `{"message":"request body is not valid JSON"}` {
		t.Fatalf("fallback accepted duplicate keys: %s", got.body)
	}
}

func TestContentTypes(t *testing.T) {
	cfg := func(types string) string {
		return "body_schema: '{\"type\":\"object\"}'\nallowed_content_types: " + types
	}
	cases := []struct {
		types, ct string
		ok        bool
	}{
		{"[application/json]", "application/json", true},
		{"[application/json]", "APPLICATION/Json ; charset=UTF-8", true},
		{"[application/json]", "application/jsonx", false},
		{"[application/json]", "application/json;", true},
		{"[application/json]", "application/json; charset", false},
		{"[application/json; charset=utf-8]", "application/json; charset=UTF-8", true},
		{"[application/json; charset=utf-8]", `application/json; charset="utf-8"`, true},
		{"[application/json; charset=utf-8]", "application/json", false},
		{"[application/json; charset=utf-8]", "application/json; charset=latin1", false},
		{"[application/json; charset=utf-8]", "application/json; charset=utf-8; x=1", false},
		{"['*/*']", "application/merge-patch+json", true},
		{"['application/*']", "application/vnd.api+json", true},
		{"['application/*']", "text/json", false},
		{"[text/plain, application/json]", "text/plain", true},
	}
	for _, tc := range cases {
		f := build(t, cfg(tc.types))
		got := run(f, post(`{}`, tc.ct))
		if (got.verdict == filters.Continue) != tc.ok {
			t.Errorf("allowed %s, Content-Type %q: got %d %s, want ok=%v", tc.types, tc.ct, got.status, got.body, tc.ok)
		}
	}
	// parameters are ignored when content_type_parameter_validation is false
	f := build(t, cfg("[application/json; charset=utf-8]")+"\ncontent_type_parameter_validation: false")
	if got := run(f, post(`{}`, "application/json; charset=latin1")); got.verdict != filters.Continue {
		t.Errorf("parameter validation off: rejected")
	}
	// an allowed non-JSON type passes without body validation (Kong)
	f = build(t, cfg("[text/plain]"))
	if got := run(f, post(`not json`, "text/plain")); got.verdict != filters.Continue {
		t.Errorf("text/plain body validated")
	}
	// +json types are validated
	f = build(t, cfg("['application/*']"))
	if got := run(f, post(`[1]`, "application/problem+json")); got.status != 400 {
		t.Errorf("+json body not validated")
	}
	// compressed bodies cannot be validated
	r := post(`{}`, "application/json")
	r.RC.Request.Header.Set("Content-Encoding", "gzip")
	if got := run(f, r); got.status != 400 {
		t.Errorf("gzip body passed")
	}
	// no body and no Content-Type: validated as {}
	f = build(t, "body_schema: '{\"required\":[\"a\"]}'")
	r = filtertest.NewRequest("GET", "/", "203.0.113.7")
	if got := run(f, r); got.status != 400 {
		t.Errorf("empty GET passed a required property")
	}
	f = build(t, "body_schema: '{\"type\":\"object\"}'")
	r = filtertest.NewRequest("GET", "/", "203.0.113.7")
	if got := run(f, r); got.verdict != filters.Continue {
		t.Errorf("empty GET rejected: %s", got.body)
	}
}

// TestContentEncodingLines: every Content-Encoding line is checked, since
// all of them are forwarded; only identity may appear.
func TestContentEncodingLines(t *testing.T) {
	f := build(t, "body_schema: '{\"type\":\"object\"}'")
	for lines, ok := range map[string]bool{
		"":                               true,
		"Content-Encoding: identity\r\n": true,
		"Content-Encoding: Identity, ,identity\r\n":                true,
		"Content-Encoding: gzip\r\n":                               false,
		"Content-Encoding: identity, gzip\r\n":                     false,
		"Content-Encoding: identity\r\nContent-Encoding: gzip\r\n": false, // was validated as raw bytes
		"Content-Encoding: gzip\r\nContent-Encoding: identity\r\n": false,
		"content-encoding: identity\r\ncontent-encoding: br\r\n":   false,
	} {
		r := filtertest.NewRequest("POST", "/", "203.0.113.7")
		head := "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n" + lines + "\r\n"
		if err := r.RC.Request.Header.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
			t.Fatal(err)
		}
		r.RC.Request.SetBodyString("{}")
		got := run(f, r)
		if (got.verdict == filters.Continue) != ok {
			t.Errorf("%q: got %d %s, want ok=%v", lines, got.status, got.body, ok)
		}
	}
}

func TestBodySize(t *testing.T) {
	f := build(t, "body_schema: '{\"type\":\"array\"}'\nmax_body_size: 64")
	if got := run(f, post("["+strings.Repeat("1,", 40)+"1]", "application/json")); got.status != 413 {
		t.Fatalf("oversized body: got %d %s", got.status, got.body)
	}
	if got := run(f, post("[1]", "application/json")); got.verdict != filters.Continue {
		t.Fatalf("small body rejected: %s", got.body)
	}
	// the size-limiting plugin's lower limit wins and is named
	r := post("[1,2,3,4,5,6,7,8,9]", "application/json")
	r.Ctx.BodyLimit, r.Ctx.BodyLimitBy = 10, "size"
	if got := run(f, r); got.status != 413 || r.Ctx.RejectedBy != "size" {
		t.Fatalf("BodyLimit not applied: %d by %q", got.status, r.Ctx.RejectedBy)
	}
}

// countingReader records how much of the stream was read.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	if len(p) > 7 {
		p = p[:7] // small reads, like a slow client
	}
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func TestStreamedBody(t *testing.T) {
	f := build(t, "body_schema: '{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}'\nmax_body_size: 100")
	body := "[1,2,3]"
	r := filtertest.NewRequest("POST", "/", "203.0.113.7")
	r.RC.Request.Header.SetContentType("application/json")
	cr := &countingReader{r: strings.NewReader(body)}
	r.RC.Request.SetBodyStream(cr, -1)
	if got := run(f, r); got.verdict != filters.Continue {
		t.Fatalf("streamed body rejected: %s", got.body)
	}
	if r.RC.Request.IsBodyStream() || string(r.RC.Request.Body()) != body || r.RC.Request.Header.ContentLength() != len(body) {
		t.Fatalf("body not put back: stream=%v body=%q cl=%d", r.RC.Request.IsBodyStream(), r.RC.Request.Body(), r.RC.Request.Header.ContentLength())
	}

	// an endless stream is read only up to the limit
	r = filtertest.NewRequest("POST", "/", "203.0.113.7")
	r.RC.Request.Header.SetContentType("application/json")
	cr = &countingReader{r: io.MultiReader(strings.NewReader("["), bytes.NewReader(bytes.Repeat([]byte("1,"), 1<<20)))}
	r.RC.Request.SetBodyStream(cr, -1)
	if got := run(f, r); got.status != 413 {
		t.Fatalf("endless stream: got %d", got.status)
	}
	if cr.read > 101+7 {
		t.Fatalf("read %d bytes of the stream, limit 100", cr.read)
	}
	if !r.RC.Response.ConnectionClose() {
		t.Errorf("connection not closed after an unread body")
	}
}
