package kongimport

import "testing"

// BenchmarkImportArticle imports the article's manifests, including the
// check of the output by config.Parse and proxy.Check (most of the time).
func BenchmarkImportArticle(b *testing.B) {
	srcs := readSources(b, "testdata/article/*.yaml")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Import(srcs, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderArticle is the reader and writer alone, without the check.
func BenchmarkRenderArticle(b *testing.B) {
	srcs := readSources(b, "testdata/article/*.yaml")
	b.ReportAllocs()
	for b.Loop() {
		im := newImporter(Options{})
		for _, s := range srcs {
			im.read(s)
		}
		im.translate()
		im.render()
	}
}
