package validator

import (
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

const paramConfig = `
verbose_response: true
path_template: /users/{id}/orders
parameter_schema:
  - name: limit
    in: query
    required: true
    schema: '{"type":"integer","minimum":1,"maximum":100}'
  - name: tags
    in: query
    schema: '{"type":"array","items":{"type":"string","enum":["a","b","c"]},"maxItems":2}'
  - name: ids
    in: query
    style: form
    explode: false
    schema: '{"type":"array","items":{"type":"integer"}}'
  - name: flag
    in: query
    schema: {type: boolean}
  - name: filter
    in: query
    style: deepObject
    schema: '{"type":"object","properties":{"min":{"type":"number"}},"additionalProperties":false}'
  - name: X-Request-Version
    in: header
    required: true
    schema: '{"type":"string","pattern":"^v[0-9]+$"}'
  - name: X-Point
    in: header
    schema: '{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["x","y"]}'
  - name: id
    in: path
    schema: '{"type":"string","format":"uuid"}'
`

func TestParameters(t *testing.T) {
	f := build(t, paramConfig)
	const okPath = "/users/123e4567-e89b-12d3-a456-426614174000/orders"
	cases := []struct {
		name, uri string
		headers   map[string]string
		want      string // "" = passes
	}{
		{"all good", okPath + "?limit=10&tags=a&tags=b&ids=1,2,3&flag=true&filter[min]=1.5", map[string]string{"X-Request-Version": "v2", "X-Point": "x,1,y,2"}, ""},
		{"minimal", okPath + "?limit=1", map[string]string{"x-request-version": "v1"}, ""},
		{"missing limit", okPath, map[string]string{"X-Request-Version": "v1"},
			`{"message":"query 'limit' validation failed, [error] required parameter value not found in request"}`},
		{"limit not integer", okPath + "?limit=ten", map[string]string{"X-Request-Version": "v1"},
			`{"message":"query 'limit' validation failed, [error] type: expected integer, but got string"}`},
		{"limit too big", okPath + "?limit=101", map[string]string{"X-Request-Version": "v1"},
			`{"message":"query 'limit' validation failed, [error] maximum: must be <= 100"}`},
		{"limit fraction", okPath + "?limit=1.5", map[string]string{"X-Request-Version": "v1"},
			`{"message":"query 'limit' validation failed, [error] type: expected integer, but got number"}`},
		{"tag not allowed", okPath + "?limit=1&tags=a&tags=z", map[string]string{"X-Request-Version": "v1"},
			`{"message":"query 'tags' validation failed, [error] /1: enum: value must be one of [\"a\",\"b\",\"c\"]"}`},
		{"too many tags", okPath + "?limit=1&tags=a&tags=b&tags=c", map[string]string{"X-Request-Version": "v1"},
			`{"message":"query 'tags' validation failed, [error] maxItems: array must have at most 2 items"}`},
		{"ids not integers", okPath + "?limit=1&ids=1,x", map[string]string{"X-Request-Version": "v1"},
			`{"message":"query 'ids' validation failed, [error] /1: type: expected integer, but got string"}`},
		{"flag not boolean", okPath + "?limit=1&flag=yes", map[string]string{"X-Request-Version": "v1"},
			`{"message":"query 'flag' validation failed, [error] type: expected boolean, but got string"}`},
		{"deepObject extra", okPath + "?limit=1&filter[max]=3", map[string]string{"X-Request-Version": "v1"},
			`{"message":"query 'filter' validation failed, [error] additionalProperties: property 'max' is not allowed"}`},
		{"header pattern", okPath + "?limit=1", map[string]string{"X-Request-Version": "2"},
			`{"message":"header 'X-Request-Version' validation failed, [error] pattern: does not match pattern \"^v[0-9]+$\""}`},
		{"header object", okPath + "?limit=1", map[string]string{"X-Request-Version": "v1", "X-Point": "x,1"},
			`{"message":"header 'X-Point' validation failed, [error] required: missing required property 'y'"}`},
		{"path uuid", "/users/42/orders?limit=1", map[string]string{"X-Request-Version": "v1"},
			`{"message":"path 'id' validation failed, [error] format: is not a valid uuid"}`},
		{"path mismatch", "/users/42?limit=1", map[string]string{"X-Request-Version": "v1"},
			`{"message":"path does not match path_template"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := filtertest.NewRequest("GET", tc.uri, "203.0.113.7")
			for k, v := range tc.headers {
				r.RC.Request.Header.Set(k, v)
			}
			got := run(f, r)
			if tc.want == "" {
				if got.verdict != filters.Continue {
					t.Fatalf("rejected: %s", got.body)
				}
				return
			}
			if got.status != 400 || got.body != tc.want {
				t.Fatalf("got %d %s\nwant 400 %s", got.status, got.body, tc.want)
			}
		})
	}
}

func TestParameterNotVerbose(t *testing.T) {
	f := build(t, `
parameter_schema:
  - {name: page, in: query, schema: '{"type":"integer"}'}
body_schema: '{"type":"object","required":["a"]}'
`)
	r := filtertest.NewRequest("POST", "/?page=x", "203.0.113.7")
	r.RC.Request.Header.SetContentType("application/json")
	r.RC.Request.SetBodyString(`{}`)
	// params are checked before the body
	if got := run(f, r); got.status != 400 || got.body != `{"message":"request param doesn't conform to schema"}` {
		t.Fatalf("got %d %s", got.status, got.body)
	}
	if r.Ctx.RejectReason != ReasonParam {
		t.Errorf("reason %q", r.Ctx.RejectReason)
	}
}
