package schema

import "testing"

// TestZeroAllocs fails when validating a valid document on the fast path
// allocates.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	for _, bc := range benchCases(t) {
		s, err := Compile(bc.schema, Options{Formats: FormatAssert})
		if err != nil {
			t.Fatal(err)
		}
		var r Result
		s.Check(bc.doc, &r)
		n := testing.AllocsPerRun(200, func() { s.Check(bc.doc, &r) })
		if bc.valid && n != 0 {
			t.Errorf("%s: %.1f allocs per valid document, want 0", bc.name, n)
		}
		if !bc.valid && n > 0 {
			t.Errorf("%s: %.1f allocs per invalid document, want 0", bc.name, n)
		}
	}
}
