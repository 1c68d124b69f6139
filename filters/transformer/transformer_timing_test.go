package transformer

import (
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

func BenchmarkAccess(b *testing.B) {
	p, _ := keyFile(b)
	for _, bc := range []struct{ name, cfg string }{
		{"baseline-empty", "{}\n"},
		{"article-3-headers", articleConfig},
		{"all-ops", `
http_method: POST
remove: {headers: [X-Debug], querystring: [debug]}
rename: {headers: ["X-Old:X-New"], querystring: ["old:new"]}
replace: {headers: ["X-Version:2"], querystring: ["page:1"], uri: "/u/$(jwt.sub)"}
add: {headers: ["X-User-ID:$(jwt.sub)", "X-Tier:$(consumer.tier)"], querystring: ["uid:$(jwt.sub)"]}
append: {headers: ["X-Via:$(client_ip)"], querystring: ["t:a"]}
`},
		{"article+identity-HS256", articleConfig + "gateway_identity: {secret: 0123456789abcdef0123456789abcdef, claims: [sub, email, roles]}\n"},
		{"article+identity-EdDSA", identityConfig(p)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr, _ := build(b, bc.cfg)
			r := filtertest.NewRequest("GET", "/orders/7?debug=1&old=2&page=3", "203.0.113.7")
			r.RC.Request.Header.Set("X-User-ID", "spoof")
			r.RC.Request.Header.Set("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x")
			r.Ctx.Claims = fakeClaims{"sub": "u-42", "email": "a@example.com", "roles": "admin,dev"}
			r.Ctx.Consumer = &filters.Consumer{ID: "c-1", Username: "alice", Tier: "gold"}
			r.Run(tr)
			b.ReportAllocs()
			for b.Loop() {
				tr.Access(&r.Ctx)
			}
		})
	}
}
