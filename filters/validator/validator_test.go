package validator

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// articleConfig is the article's plugin config, as written.
const articleConfig = `
body_schema: |
  {
    "type": "object",
    "required": ["name", "email"],
    "properties": {
      "name": {
        "type": "string",
        "minLength": 1,
        "maxLength": 100
      },
      "email": {
        "type": "string",
        "format": "email"
      },
      "phone": {
        "type": "string",
        "pattern": "^\\+?[0-9]{10,15}$"
      }
    },
    "additionalProperties": false
  }
allowed_content_types:
  - application/json
verbose_response: false
`

func build(t testing.TB, cfg string) filters.Filter {
	t.Helper()
	return filtertest.MustBuild(t, filtertest.Env(t), Name, cfg)
}

func post(body, ct string) *filtertest.Request {
	r := filtertest.NewRequest("POST", "/users", "203.0.113.7")
	if ct != "" {
		r.RC.Request.Header.SetContentType(ct)
	}
	r.RC.Request.SetBodyString(body)
	return r
}

type outcome struct {
	verdict filters.Verdict
	status  int
	body    string
}

func run(f filters.Filter, r *filtertest.Request) outcome {
	v := r.Run(f)
	return outcome{v, r.RC.Response.StatusCode(), string(r.RC.Response.Body())}
}

func TestArticleSchema(t *testing.T) {
	f := build(t, articleConfig)
	if !f.(*Filter).body.Fast() {
		t.Fatalf("article schema not on the fast path: %s", f.(*Filter).body.FallbackReason())
	}
	const notConform = `{"message":"request body doesn't conform to schema"}`
	cases := []struct {
		name, body, ct string
		ok             bool
		want           string
	}{
		{"valid", `{"name":"Ada Lovelace","email":"ada@example.com","phone":"+441234567890"}`, "application/json", true, ""},
		{"valid without phone", `{"name":"A","email":"a@b.co"}`, "application/json", true, ""},
		{"charset param", `{"name":"A","email":"a@b.co"}`, "application/json; charset=utf-8", true, ""},
		{"upper-case type", `{"name":"A","email":"a@b.co"}`, "Application/JSON", true, ""},
		{"missing email", `{"name":"A"}`, "application/json", false, notConform},
		{"empty name", `{"name":"","email":"a@b.co"}`, "application/json", false, notConform},
		{"name too long", `{"name":"` + strings.Repeat("x", 101) + `","email":"a@b.co"}`, "application/json", false, notConform},
		{"100 code points ok", `{"name":"` + strings.Repeat("é", 100) + `","email":"a@b.co"}`, "application/json", true, ""},
		{"bad email", `{"name":"A","email":"not-an-email"}`, "application/json", false, notConform},
		{"bad phone", `{"name":"A","email":"a@b.co","phone":"12345"}`, "application/json", false, notConform},
		{"extra property", `{"name":"A","email":"a@b.co","admin":true}`, "application/json", false, notConform},
		{"wrong type", `{"name":5,"email":"a@b.co"}`, "application/json", false, notConform},
		{"array body", `[]`, "application/json", false, notConform},
		{"empty body is {}", ``, "application/json", false, notConform},
		{"bad json", `{"name":"A",`, "application/json", false, `{"message":"request body is not valid JSON"}`},
		{"duplicate key", `{"name":"A","email":"a@b.co","name":"B"}`, "application/json", false, `{"message":"request body is not valid JSON"}`},
		{"invalid utf-8", "{\"name\":\"\xff\",\"email\":\"a@b.co\"}", "application/json", false, `{"message":"request body is not valid JSON"}`},
		{"trailing data", `{"name":"A","email":"a@b.co"} {}`, "application/json", false, `{"message":"request body is not valid JSON"}`},
		{"garbage after schema failure", `{"admin":1, xx`, "application/json", false, `{"message":"request body is not valid JSON"}`},
		{"text/plain", `{"name":"A","email":"a@b.co"}`, "text/plain", false, notConform},
		{"no content type", `{"name":"A","email":"a@b.co"}`, "", false, notConform},
		{"deep nesting", strings.Repeat("[", 100000), "application/json", false, `{"message":"request body is not valid JSON"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := run(f, post(tc.body, tc.ct))
			if tc.ok {
				if got.verdict != filters.Continue {
					t.Fatalf("rejected: %d %s", got.status, got.body)
				}
				return
			}
			if got.verdict != filters.Respond || got.status != 400 || got.body != tc.want {
				t.Fatalf("got %v %d %s, want 400 %s", got.verdict, got.status, got.body, tc.want)
			}
		})
	}
}

// TestVerboseFallbackLimit: the fallback validator's number limit names
// the field, like the other failures.
func TestVerboseFallbackLimit(t *testing.T) {
	f := build(t, "verbose_response: true\nbody_schema: '{\"properties\":{\"n\":{\"type\":\"number\"}},\"unevaluatedProperties\":false}'")
	got := run(f, post(`{"n":1e400}`, "application/json"))
	want := `{"message":"property /n validation failed: $limit: number too large to validate","path":"/n","keyword":"$limit"}`
	if got.status != 400 || got.body != want {
		t.Errorf("got %d %s\n want %s", got.status, got.body, want)
	}
}

func TestVerbose(t *testing.T) {
	f := build(t, strings.Replace(articleConfig, "verbose_response: false", "verbose_response: true", 1))
	cases := []struct{ body, ct, want string }{
		{`{"name":"A","email":"x"}`, "application/json",
			`{"message":"property /email validation failed: format: is not a valid email","path":"/email","keyword":"format"}`},
		{`{"name":"A"}`, "application/json",
			`{"message":"property / validation failed: required: missing required property 'email'","path":"","keyword":"required"}`},
		{`{"name":"A","email":"a@b.co","x":1}`, "application/json",
			`{"message":"property / validation failed: additionalProperties: property 'x' is not allowed","path":"","keyword":"additionalProperties"}`},
		{`{"name":"A","email":"a@b.co","a":1,"a":2}`, "application/json",
			`{"message":"request body is not valid JSON: duplicate key in object at offset 35"}`},
		{`{}`, "text/html", `{"message":"specified Content-Type is not allowed"}`},
	}
	for _, tc := range cases {
		got := run(f, post(tc.body, tc.ct))
		if got.status != 400 || got.body != tc.want {
			t.Errorf("%s: got %d %s\n want %s", tc.body, got.status, got.body, tc.want)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(got.body), &v); err != nil {
			t.Errorf("body is not JSON: %v", err)
		}
	}
}
