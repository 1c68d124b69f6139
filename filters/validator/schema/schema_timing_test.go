package schema

import (
	"bytes"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

type benchCase struct {
	name   string
	schema []byte
	doc    []byte
	valid  bool
}

func benchCases(tb testing.TB) []benchCase {
	return []benchCase{
		{"article/valid", readFixture(tb, "article.schema.json"), readFixture(tb, "article.valid.json"), true},
		{"article/invalid", readFixture(tb, "article.schema.json"), readFixture(tb, "article.invalid.json"), false},
		{"order10k/valid", readFixture(tb, "order.schema.json"), orderBody(10 << 10), true},
	}
}

// reference compiles the schema with santhosh-tekuri/jsonschema as a user
// of that library would (format assertion on).
func reference(tb testing.TB, src []byte) *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
	if err != nil {
		tb.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("s.json", doc); err != nil {
		tb.Fatal(err)
	}
	s, err := c.Compile("s.json")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkValidate compares the compiled fast path with
// santhosh-tekuri/jsonschema (decode with its UnmarshalJSON, then
// Validate) on the same bytes.
func BenchmarkValidate(b *testing.B) {
	for _, bc := range benchCases(b) {
		s, err := Compile(bc.schema, Options{Formats: FormatAssert})
		if err != nil {
			b.Fatal(err)
		}
		if !s.Fast() {
			b.Fatalf("%s: not fast: %s", bc.name, s.FallbackReason())
		}
		var r Result
		if got := s.Check(bc.doc, &r); got != bc.valid {
			b.Fatalf("%s: valid=%v (%s %s)", bc.name, got, r.Keyword, r.Message)
		}
		b.Run(bc.name+"/edgeguard", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.doc)))
			var r Result
			for i := 0; i < b.N; i++ {
				s.Check(bc.doc, &r)
			}
		})
		ref := reference(b, bc.schema)
		b.Run(bc.name+"/santhosh", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.doc)))
			for i := 0; i < b.N; i++ {
				v, err := jsonschema.UnmarshalJSON(bytes.NewReader(bc.doc))
				if err != nil {
					b.Fatal(err)
				}
				if (ref.Validate(v) == nil) != bc.valid {
					b.Fatal("reference disagrees")
				}
			}
		})
		fb, err := Compile(bc.schema, Options{Formats: FormatAssert, ForceFallback: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name+"/fallback", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.doc)))
			var r Result
			for i := 0; i < b.N; i++ {
				if fb.Check(bc.doc, &r) != bc.valid {
					b.Fatal("fallback disagrees")
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	src := readFixture(b, "order.schema.json")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Compile(src, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
