package template

import "testing"

func BenchmarkRender(b *testing.B) {
	r := newReq()
	for _, bc := range []struct{ name, src string }{
		{"literal", "static-value"},
		{"claim", "$(jwt.sub)"},
		{"mixed", "Bearer $(jwt.email) from $(client_ip)"},
		{"header", "$(header.x-tenant)"},
		{"consumer", "$(consumer.username):$(consumer.tier)"},
	} {
		tpl := MustCompile(bc.src)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 128)
			for b.Loop() {
				buf, _ = tpl.AppendRender(buf[:0], &r.Ctx)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Compile("Bearer $(jwt.email) from $(client_ip)")
	}
}
