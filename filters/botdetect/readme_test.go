package botdetect_test

import (
	"testing"

	"github.com/edgeguard/edgeguard/filters/botdetect"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// TestReadmeExamples builds every plugin instance of the README's examples,
// so the documentation cannot drift from the code.
func TestReadmeExamples(t *testing.T) {
	filtertest.ReadmeExamples(t, "README.md", botdetect.Name, 3)
}
