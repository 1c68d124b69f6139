package schema

import (
	"strings"
	"testing"
	"time"
)

func mustCompile(t testing.TB, src string, opt Options) *Schema {
	t.Helper()
	s, err := Compile([]byte(src), opt)
	if err != nil {
		t.Fatalf("compile %s: %v", src, err)
	}
	return s
}

type vcase struct {
	doc   string
	valid bool
}

// checkBoth runs cases on the fast path (which must be used) and on the
// forced fallback.
func checkBoth(t *testing.T, src string, opt Options, cases []vcase) {
	t.Helper()
	s := mustCompile(t, src, opt)
	if !s.Fast() {
		t.Fatalf("%s: not on the fast path: %s", src, s.FallbackReason())
	}
	o := opt
	o.ForceFallback = true
	fb := mustCompile(t, src, o)
	for _, c := range cases {
		var r Result
		if got := s.Check([]byte(c.doc), &r); got != c.valid {
			t.Errorf("schema %s\n doc %s: fast valid=%v, want %v (%s %s: %s)", src, c.doc, got, c.valid, r.Path, r.Keyword, r.Message)
		}
		if got := fb.Check([]byte(c.doc), &r); got != c.valid {
			t.Errorf("schema %s\n doc %s: fallback valid=%v, want %v (%s)", src, c.doc, got, c.valid, r.Message)
		}
	}
}

func TestDraft4Semantics(t *testing.T) {
	d4 := Options{DefaultDraft: Draft4}
	checkBoth(t, `{"maximum": 3, "exclusiveMaximum": true}`, d4, []vcase{{"2.9", true}, {"3", false}, {"3.0", false}, {"4", false}})
	checkBoth(t, `{"maximum": 3, "exclusiveMaximum": false}`, d4, []vcase{{"3", true}, {"3.01", false}})
	checkBoth(t, `{"minimum": 1.1, "exclusiveMinimum": true}`, d4, []vcase{{"1.2", true}, {"1.1", false}, {"0.6", false}, {`"x"`, true}})
	// draft 4 ignores $ref siblings
	checkBoth(t, `{"definitions":{"a":{"type":"integer"}},"properties":{"x":{"$ref":"#/definitions/a","minimum":100}}}`, d4,
		[]vcase{{`{"x":5}`, true}, {`{"x":"s"}`, false}})
	// const, contains, propertyNames, if are not draft 4 keywords: ignored
	checkBoth(t, `{"const": 1, "contains": {"type":"string"}, "propertyNames": {"maxLength": 1}, "if": false, "else": false}`, d4,
		[]vcase{{`2`, true}, {`[1]`, true}, {`{"long":1}`, true}})
	// tuple items + additionalItems
	checkBoth(t, `{"items":[{"type":"integer"},{"type":"string"}],"additionalItems":false}`, d4,
		[]vcase{{`[1,"a"]`, true}, {`[1]`, true}, {`[1,"a",3]`, false}, {`["a"]`, false}})
	checkBoth(t, `{"items":[{}],"additionalItems":{"type":"integer"}}`, d4, []vcase{{`["x",1,2]`, true}, {`["x",1,"y"]`, false}})
	// dependencies: array and schema forms
	checkBoth(t, `{"dependencies":{"bar":["foo"],"baz":{"required":["qux"]}}}`, d4,
		[]vcase{{`{"bar":1,"foo":2}`, true}, {`{"bar":1}`, false}, {`{"baz":1,"qux":1}`, true}, {`{"baz":1}`, false}, {`{}`, true}})
	// $schema selects draft 4 too
	s := mustCompile(t, `{"$schema":"http://json-schema.org/draft-04/schema#","maximum":3,"exclusiveMaximum":true}`, Options{})
	if s.Draft() != Draft4 || s.Validate([]byte("3")) == nil {
		t.Errorf("$schema draft-04 not honoured (draft %v)", s.Draft())
	}
	// draft 4 asserts formats by default
	checkBoth(t, `{"format":"ipv4"}`, d4, []vcase{{`"1.2.3.4"`, true}, {`"1.2.3.256"`, false}, {`12`, true}})
	// boolean exclusiveMaximum is invalid in draft 6+
	if _, err := Compile([]byte(`{"maximum":3,"exclusiveMaximum":true}`), Options{DefaultDraft: Draft7}); err == nil {
		t.Errorf("draft 7 accepted a boolean exclusiveMaximum")
	}
}

func TestDraft7Semantics(t *testing.T) {
	d7 := Options{DefaultDraft: Draft7}
	checkBoth(t, `{"exclusiveMaximum": 3, "exclusiveMinimum": 1}`, d7, []vcase{{"2", true}, {"3", false}, {"1", false}})
	// $ref siblings ignored in draft 7
	checkBoth(t, `{"definitions":{"a":{"type":"integer"}},"properties":{"x":{"$ref":"#/definitions/a","maximum":1}}}`, d7,
		[]vcase{{`{"x":5}`, true}, {`{"x":1.5}`, false}})
	checkBoth(t, `{"if":{"minimum":10},"then":{"multipleOf":2},"else":{"maximum":5}}`, d7,
		[]vcase{{"12", true}, {"11", false}, {"4", true}, {"7", false}, {`"s"`, true}})
	checkBoth(t, `{"contains":{"const":"x"}}`, d7, []vcase{{`["a","x"]`, true}, {`["a"]`, false}, {`[]`, false}, {`{}`, true}})
	// minContains is a 2019-09 keyword: ignored in draft 7
	checkBoth(t, `{"contains":{"const":1},"minContains":2}`, d7, []vcase{{`[1]`, true}})
	checkBoth(t, `{"propertyNames":{"pattern":"^[a-z]+$"}}`, d7, []vcase{{`{"abc":1}`, true}, {`{"aB":1}`, false}})
	checkBoth(t, `{"items":{"type":"integer"},"uniqueItems":true}`, d7, []vcase{{`[1,2]`, true}, {`[1,1.0]`, false}})
	// draft 7 asserts formats by default
	checkBoth(t, `{"format":"date"}`, d7, []vcase{{`"2024-02-29"`, true}, {`"2023-02-29"`, false}})
	// dependentRequired is not a draft 7 keyword
	checkBoth(t, `{"dependentRequired":{"a":["b"]}}`, d7, []vcase{{`{"a":1}`, true}})
	// prefixItems is not a draft 7 keyword
	checkBoth(t, `{"prefixItems":[false]}`, d7, []vcase{{`[1]`, true}})
	s := mustCompile(t, `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"a":{"type":"integer"}},"$ref":"#/definitions/a","type":"string"}`, Options{})
	if s.Draft() != Draft7 || s.Validate([]byte("5")) != nil {
		t.Errorf("$schema draft-07 root $ref: sibling type applied")
	}
}

func TestDraft2020Default(t *testing.T) {
	s := mustCompile(t, `{"type":"string"}`, Options{})
	if s.Draft() != Draft2020 {
		t.Fatalf("default draft %v", s.Draft())
	}
	// format is an annotation by default in 2020-12, asserted with FormatAssert
	checkBoth(t, `{"format":"email"}`, Options{}, []vcase{{`"x"`, true}})
	checkBoth(t, `{"format":"email"}`, Options{Formats: FormatAssert}, []vcase{{`"x"`, false}, {`"a@b.c"`, true}})
	checkBoth(t, `{"prefixItems":[{"type":"integer"}],"items":false}`, Options{}, []vcase{{`[1]`, true}, {`[1,2]`, false}, {`["a"]`, false}})
	checkBoth(t, `{"contains":{"const":1},"minContains":2,"maxContains":3}`, Options{}, []vcase{{`[1,1]`, true}, {`[1]`, false}, {`[1,1,1,1]`, false}})
	checkBoth(t, `{"dependentRequired":{"a":["b"]},"dependentSchemas":{"c":{"maxProperties":1}}}`, Options{},
		[]vcase{{`{"a":1,"b":1}`, true}, {`{"a":1}`, false}, {`{"c":1}`, true}, {`{"c":1,"d":2}`, false}})
}

func TestHostileInput(t *testing.T) {
	s := mustCompile(t, `{"type":"object","properties":{"a":{"type":"array","items":{"type":"number","maximum":10}}},"additionalProperties":{"type":"string","maxLength":5}}`, Options{})
	deep := strings.Repeat("[", 1000) + strings.Repeat("]", 1000)
	cases := []struct {
		name string
		doc  string
		kind Kind
	}{
		{"truncated object", `{"a":[1,2`, Malformed},
		{"truncated string", `{"b":"abc`, Malformed},
		{"truncated escape", `{"b":"\u12`, Malformed},
		{"truncated literal", `{"b":tru`, Malformed},
		{"truncated after key", `{"b"`, Malformed},
		{"truncated after colon", `{"b":`, Malformed},
		{"empty", ``, Malformed},
		{"only whitespace", " \n\t", Malformed},
		{"invalid utf-8", "{\"b\":\"\xc3\x28\"}", Malformed},
		{"overlong utf-8", "{\"b\":\"\xc0\xaf\"}", Malformed},
		{"utf-8 surrogate", "{\"b\":\"\xed\xa0\x80\"}", Malformed},
		{"invalid utf-8 in key", "{\"\xff\":\"x\"}", Malformed},
		{"lone surrogate escape", `{"b":"\ud800"}`, Malformed},
		{"lone low surrogate", `{"b":"\udc00x"}`, Malformed},
		{"control char", "{\"b\":\"a\x01\"}", Malformed},
		{"bad escape", `{"b":"\x"}`, Malformed},
		{"duplicate key", `{"b":"1","b":"2"}`, Malformed},
		{"duplicate key escaped", `{"b":"1","\u0062":"2"}`, Malformed},
		{"duplicate key in unvalidated subtree", `{"a":[1],"c":"x","d":{"x":1,"x":2}}`, Malformed},
		{"deep nesting", `{"a":` + deep + `}`, Malformed},
		{"leading zero", `{"a":[01]}`, Malformed},
		{"bare minus", `{"a":[-]}`, Malformed},
		{"trailing comma", `{"a":[1,]}`, Malformed},
		{"trailing data", `{} x`, Malformed},
		{"NaN", `{"a":[NaN]}`, Malformed},
		{"single quotes", `{'a':1}`, Malformed},
		{"huge exponent ok", `{"a":[1e-999999999999999999999]}`, Valid},
		{"huge exponent over max", `{"a":[1e999999999999999999999]}`, Invalid},
		{"many digits", `{"a":[` + strings.Repeat("9", 5000) + `]}`, Invalid},
		{"many digits below max", `{"a":[0.` + strings.Repeat("9", 5000) + `]}`, Valid},
		{"10.0000…1", `{"a":[10.` + strings.Repeat("0", 400) + `1]}`, Invalid},
		{"10.000…0", `{"a":[10.` + strings.Repeat("0", 400) + `]}`, Valid},
		{"schema failure then garbage", `{"b":"too long string", !!!`, Malformed},
	}
	for _, c := range cases {
		var r Result
		s.Check([]byte(c.doc), &r)
		if r.Kind != c.kind {
			t.Errorf("%s: kind %v (%s: %s at %d), want %v", c.name, r.Kind, r.Keyword, r.Message, r.Offset, c.kind)
		}
	}
}

func TestHostileIsLinear(t *testing.T) {
	s := mustCompile(t, `{"type":"array","uniqueItems":true,"items":{"type":"object","additionalProperties":{"type":"string"}}}`, Options{})
	// one object with 100k keys, and two equal big objects in a unique array
	var b strings.Builder
	b.WriteString(`[{`)
	for i := 0; i < 50000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(itoa(i))
		b.WriteString(`":"v"`)
	}
	b.WriteString(`}]`)
	one := b.String()
	two := one[:len(one)-1] + "," + one[1:]
	for _, doc := range []string{one, two} {
		start := time.Now()
		var r Result
		valid := s.Check([]byte(doc), &r)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%d bytes took %v", len(doc), d)
		}
		if want := doc == one; valid != want {
			t.Errorf("valid=%v want %v (%s)", valid, want, r.Message)
		}
	}
	// exponential anyOf recursion is cut by the work budget
	rec := mustCompile(t, `{"anyOf":[{"items":{"$ref":"#"},"minItems":2},{"items":{"$ref":"#"},"maxItems":1,"minItems":1}]}`, Options{})
	doc := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	start := time.Now()
	var r Result
	rec.Check([]byte(doc), &r)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("recursive anyOf took %v", d)
	}
	if r.Kind != Invalid {
		t.Errorf("recursive anyOf: %v %s", r.Kind, r.Message)
	}
}

func itoa(i int) string { return string(appendInt(nil, int64(i))) }

func TestErrorPaths(t *testing.T) {
	s := mustCompile(t, `{"properties":{"a/b":{"items":{"properties":{"c~":{"type":"string"}}}}}}`, Options{})
	var r Result
	if s.Check([]byte(`{"a/b":[{"c~":"x"},{"c~":1}]}`), &r) {
		t.Fatal("valid")
	}
	if string(r.Path) != "/a~1b/1/c~0" || r.Keyword != "type" {
		t.Errorf("path %q keyword %q", r.Path, r.Keyword)
	}
	err := s.Validate([]byte(`{"a/b":[{"c~":1}]}`))
	if err == nil || err.Error() != "/a~1b/0/c~0: type: expected string, but got number" {
		t.Errorf("error %v", err)
	}
	err = s.Validate([]byte(`{"a":1,"a":2}`))
	if err == nil || !strings.Contains(err.Error(), "duplicate key") {
		t.Errorf("error %v", err)
	}
	// escaped key in the path is decoded
	s.Check([]byte(`{"a\/b":[{"c~":true}]}`), &r)
	if string(r.Path) != "/a~1b/0/c~0" {
		t.Errorf("escaped path %q", r.Path)
	}
}

func TestFallbackReason(t *testing.T) {
	cases := map[string]string{
		`{"unevaluatedProperties":false}`:                           "keyword unevaluatedProperties",
		`{"$dynamicAnchor":"x","items":{"$dynamicRef":"#x"}}`:       "keyword $dynamicRef",
		`{"$defs":{"a":{"$anchor":"x"}},"$ref":"#x"}`:               "anchor",
		`{"format":"json-pointer"}`:                                 `format "json-pointer"`,
		`{"properties":{"a":{"$id":"http://x/a","type":"string"}}}`: "own $id",
	}
	for src, want := range cases {
		s := mustCompile(t, src, Options{Formats: FormatAssert})
		if s.Fast() || !strings.Contains(s.FallbackReason(), want) {
			t.Errorf("%s: fast=%v reason %q, want %q", src, s.Fast(), s.FallbackReason(), want)
		}
	}
	s := mustCompile(t, `{"minLenght": 3, "format": "phone"}`, Options{Formats: FormatAssert})
	if w := strings.Join(s.Warnings(), "; "); !strings.Contains(w, "minLenght") || !strings.Contains(w, "phone") {
		t.Errorf("warnings %q", w)
	}
}

// TestFallbackLimitPath: a number beyond the fallback's limits is reported
// at its place, like any other failure.
func TestFallbackLimitPath(t *testing.T) {
	s := mustCompile(t, `{"type":"object","properties":{"n":{"type":"number"}},"unevaluatedProperties":false}`, Options{})
	if s.Fast() {
		t.Fatal("expected the fallback")
	}
	for doc, want := range map[string]string{
		`{"n":1e400}`: "/n",
		`1e400`:       "",
		`{"a":1,"b":[2, "1e999", {"c":1}, 3e999]}`:              "/b/3",
		`{ "x/y" : { "~k" : [ 0 , 1e500 ] } }`:                  "/x~1y/~0k/1",
		`{"\u006e":1e400}`:                                      "/n",
		`{"a":{},"b":[],"n":` + strings.Repeat("7", 1001) + `}`: "/n",
	} {
		var r Result
		if s.Check([]byte(doc), &r) || r.Keyword != "$limit" || string(r.Path) != want {
			t.Errorf("%s: %v %s %q, want $limit at %q", doc, r.Kind, r.Keyword, r.Path, want)
		}
	}
	var r Result
	if !s.Check([]byte(`{"n":1e300}`), &r) {
		t.Errorf("1e300: %s %s", r.Keyword, r.Message)
	}
}
