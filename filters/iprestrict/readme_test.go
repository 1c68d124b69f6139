package iprestrict_test

import (
	"testing"

	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/iprestrict"
)

// TestReadmeExamples builds every plugin instance of the README's examples,
// so the documentation cannot drift from the code.
func TestReadmeExamples(t *testing.T) {
	filtertest.ReadmeExamples(t, "README.md", iprestrict.Name, 3)
}
