package validator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

func fixture(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("schema", "testdata", "bench", name))
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// nopFilter is the baseline: the cost of running a filter that does nothing.
type nopFilter struct{}

func (nopFilter) Access(*filters.Ctx) filters.Verdict { return filters.Continue }

// BenchmarkAccess is the plugin path: content-type check plus body
// validation on a prepared request (no server).
func BenchmarkAccess(b *testing.B) {
	f := build(b, articleConfig)
	paramF := build(b, paramConfig)
	cases := []struct {
		name string
		f    filters.Filter
		req  *filtertest.Request
		want filters.Verdict
	}{
		{"baseline-nop", nopFilter{}, post(fixture(b, "article.valid.json"), "application/json; charset=utf-8"), filters.Continue},
		{"article/valid", f, post(fixture(b, "article.valid.json"), "application/json; charset=utf-8"), filters.Continue},
		{"article/invalid", f, post(fixture(b, "article.invalid.json"), "application/json"), filters.Respond},
		{"params/valid", paramF, paramRequest(), filters.Continue},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if v := c.req.Run(c.f); v != c.want {
				b.Fatalf("verdict %v: %s", v, c.req.RC.Response.Body())
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c.req.Reset()
				c.req.Run(c.f)
			}
		})
	}
}

func paramRequest() *filtertest.Request {
	r := filtertest.NewRequest("GET", "/users/123e4567-e89b-12d3-a456-426614174000/orders?limit=10&tags=a&tags=b&ids=1,2,3&flag=true&filter[min]=1.5", "203.0.113.7")
	r.RC.Request.Header.Set("X-Request-Version", "v2")
	r.RC.Request.Header.Set("X-Point", "x,1,y,2")
	return r
}

// TestAccessZeroAllocs fails when the plugin allocates on a valid request
// or when rejecting an invalid body.
func TestAccessZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	f := build(t, articleConfig)
	fv := build(t, strings.Replace(articleConfig, "verbose_response: false", "verbose_response: true", 1))
	pf := build(t, paramConfig)
	cases := []struct {
		name string
		f    filters.Filter
		req  *filtertest.Request
	}{
		{"valid body", f, post(fixture(t, "article.valid.json"), "application/json; charset=utf-8")},
		{"invalid body", f, post(fixture(t, "article.invalid.json"), "application/json")},
		{"invalid body verbose", fv, post(fixture(t, "article.invalid.json"), "application/json")},
		{"valid params", pf, paramRequest()},
	}
	for _, c := range cases {
		c.req.Run(c.f)
		n := testing.AllocsPerRun(200, func() {
			c.req.Reset()
			c.req.Run(c.f)
		})
		if n != 0 {
			t.Errorf("%s: %.1f allocs per request, want 0", c.name, n)
		}
	}
}
