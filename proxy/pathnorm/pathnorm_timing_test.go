package pathnorm

import "testing"

func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"clean", "/v1/items/12345"},
		{"dirty", "//v1/./items/../%61dmin/x%20y"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := []byte(bc.in)
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = Normalize(buf[:0], in)
			}
		})
	}
}
