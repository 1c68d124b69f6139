package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// diffSchemas are the schemas FuzzDifferential checks, covering every
// fast-path keyword and the draft differences.
var diffSchemas = []struct {
	name  string
	draft Draft
	src   string
}{
	{"article", Draft2020, `{"type":"object","required":["name","email"],"properties":{"name":{"type":"string","minLength":1,"maxLength":100},"email":{"type":"string","format":"email"},"phone":{"type":"string","pattern":"^\\+?[0-9]{10,15}$"}},"additionalProperties":false}`},
	{"numbers", Draft2020, `{"anyOf":[{"type":"integer","minimum":-3,"exclusiveMaximum":1e3,"multipleOf":3},{"type":"number","minimum":-1.5,"maximum":2.75,"multipleOf":0.25}],"not":{"const":9}}`},
	{"combinators", Draft2020, `{"oneOf":[{"type":"string","pattern":"^a.c$","maxLength":5},{"type":"string","format":"date"},{"type":["null","boolean"]},{"type":"array","items":{"$ref":"#"},"maxItems":3}]}`},
	{"arrays", Draft2020, `{"type":"array","uniqueItems":true,"prefixItems":[{"type":"integer"},{"enum":[1,"a",null,{"x":[1,2]},[true],1.5]}],"items":{"type":["string","number","object","array"]},"contains":{"type":"number"},"minContains":1,"maxContains":3,"minItems":1,"maxItems":8}`},
	{"objects", Draft2020, `{"type":"object","minProperties":1,"maxProperties":6,"patternProperties":{"^x-":{"type":"string"},"^[0-9]+$":{"type":"integer"}},"propertyNames":{"maxLength":8},"properties":{"a":{"type":"object","additionalProperties":{"const":{"k":[1,{"z":null}]}}},"b":true},"additionalProperties":{"type":["boolean","null"]},"dependentRequired":{"a":["b"]},"dependentSchemas":{"b":{"required":["c"]}},"if":{"required":["x-if"]},"then":{"properties":{"x-if":{"minLength":2}}},"else":{"not":{"required":["9"]}}}`},
	{"defs", Draft2020, `{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"next":{"$ref":"#/$defs/node"}},"required":["v"]},"s":{"type":"string","format":"ipv4"}},"properties":{"list":{"$ref":"#/$defs/node"},"ip":{"$ref":"#/$defs/s","maxLength":9},"all":{"allOf":[{"type":"string"},{"minLength":2},{"format":"uuid"}]}}}`},
	{"draft4", Draft4, `{"properties":{"n":{"maximum":5,"exclusiveMaximum":true,"minimum":0,"exclusiveMinimum":true},"t":{"items":[{"type":"string"},{"type":"integer"}],"additionalItems":false},"r":{"$ref":"#/definitions/r","type":"string"},"d":{"dependencies":{"a":["b"],"c":{"properties":{"c":{"type":"integer"}}}}}},"definitions":{"r":{"type":"integer"}}}`},
	{"draft7", Draft7, `{"definitions":{"pos":{"exclusiveMinimum":0}},"properties":{"r":{"$ref":"#/definitions/pos","type":"string"},"i":{"if":{"type":"integer"},"then":{"maximum":10},"else":{"type":"string","format":"email"}},"c":{"contains":{"const":"x"}},"p":{"propertyNames":{"pattern":"^[a-z]*$"}},"u":{"uniqueItems":true}}}`},
	{"formats", Draft2020, `{"properties":{"dt":{"format":"date-time"},"t":{"format":"time"},"h":{"format":"hostname"},"v6":{"format":"ipv6"},"u":{"format":"uri"},"e":{"format":"email"}}}`},
}

type diffPair struct {
	name string
	fast *Schema
	ref  *jsonschema.Schema
}

var (
	diffOnce  sync.Once
	diffPairs []diffPair
	diffErr   error
)

// referenceFor compiles src with santhosh-tekuri/jsonschema, configured as
// the fallback is (format assertion, ECMA-262 pattern translation and the
// same format predicates), so the comparison covers the engine.
func referenceFor(src string, d Draft) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(refDraft(d))
	c.AssertFormat()
	c.UseRegexpEngine(func(p string) (jsonschema.Regexp, error) { return CompilePattern(p) })
	for name, f := range formatFuncs {
		c.RegisterFormat(&jsonschema.Format{Name: name, Validate: formatValidator(name, f)})
	}
	if err := c.AddResource("ref.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("ref.json")
}

func loadDiffPairs() {
	for _, s := range diffSchemas {
		fast, err := Compile([]byte(s.src), Options{DefaultDraft: s.draft, Formats: FormatAssert})
		if err != nil {
			diffErr = err
			return
		}
		if !fast.Fast() {
			diffErr = &Error{Message: s.name + " not fast: " + fast.FallbackReason()}
			return
		}
		ref, err := referenceFor(s.src, s.draft)
		if err != nil {
			diffErr = err
			return
		}
		diffPairs = append(diffPairs, diffPair{s.name, fast, ref})
	}
}

// strictness are the documents encoding/json accepts and edgeguard
// refuses on purpose.
var strictness = []string{"duplicate key", "invalid UTF-8", "lone surrogate", "nesting too deep"}

// FuzzDifferential validates random documents against every diffSchemas
// schema on the fast path and with santhosh-tekuri/jsonschema; any
// disagreement is a bug.
func FuzzDifferential(f *testing.F) {
	for _, s := range []string{
		`{"name":"Ada","email":"ada@example.com","phone":"+441234567890"}`,
		`{"name":"","email":"x"}`, `[1,"a",null]`, `[3,{"x":[1,2]},"s",2.5]`, `[0,1.5,1.50,"a"]`,
		`{"a":{"q":{"k":[1,{"z":null}]}},"b":1,"c":2}`, `{"x-if":"ab","12":3,"zz":true}`, `{"9":1}`,
		`{"list":{"v":1,"next":{"v":2,"next":{"v":"x"}}},"ip":"10.0.0.1","all":"123e4567-e89b-12d3-a456-426614174000"}`,
		`{"n":5,"t":["a",1],"r":"s","d":{"a":1,"c":"x"}}`, `{"r":"x","i":11,"c":["y"],"p":{"A":1},"u":[1,1.0]}`,
		`{"dt":"2024-02-29T23:59:60Z","t":"12:00:00+01:00","h":"a-b.example","v6":"::1","u":"http://[::1]:80/p?q#f","e":"\"q\"@[IPv6:::1]"}`,
		`-0.0`, `1e308`, `27`, `-2.75e0`, `"abc"`, `"2024-13-01"`, `[[[[]]]]`, `{"a":1,"a":2}`, `"\ud83d\ude00"`, `{"\u0061":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		tm := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("slow: %q", doc)) })
		defer tm.Stop()
		diffOnce.Do(loadDiffPairs)
		if diffErr != nil {
			t.Fatal(diffErr)
		}
		var r Result
		malformed := !diffPairs[0].fast.Check(doc, &r) && r.Kind == Malformed
		stdValid := json.Valid(doc)
		if malformed {
			if stdValid {
				ok := false
				for _, s := range strictness {
					ok = ok || strings.Contains(string(r.Message), s)
				}
				if !ok {
					t.Fatalf("malformed (%s at %d) but encoding/json accepts %q", r.Message, r.Offset, doc)
				}
			}
			return
		}
		if !stdValid {
			t.Fatalf("accepted as JSON but encoding/json refuses %q", doc)
		}
		if !numbersWithin(doc) {
			return // the reference cannot convert such numbers (big.Rat)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
		if err != nil {
			t.Fatalf("reference cannot decode %q: %v", doc, err)
		}
		for _, p := range diffPairs {
			got := p.fast.Check(doc, &r)
			if r.Kind == Invalid && r.Keyword == "$budget" {
				continue
			}
			want := p.ref.Validate(v) == nil
			if got != want {
				t.Fatalf("schema %s: fast valid=%v (%s %s: %s), reference valid=%v, doc %q", p.name, got, r.Path, r.Keyword, r.Message, want, doc)
			}
		}
	})
}
