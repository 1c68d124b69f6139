package template

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzCompile checks that the compiler never panics, that what it accepts
// renders without panicking, that a template without variables renders to
// its source with "$$(" unescaped, and that text without "$(" is kept as is.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"", "plain", "$(jwt.sub)", "Bearer $(jwt.email) from $(client_ip)", "$$(x)", "$", "$(", "$()",
		"$(jwt.a.b.c)", "$(header.X-Tenant)", "$(query.a[b])", "$(cookie.sid)", "a$$b", "$(jwt.)",
		"$( consumer.tier )", "$(jwt.a$(b))", "\xff$(jwt.\xff)",
	} {
		f.Add(s)
	}
	r := newReq()
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := Compile(src)
		if err != nil {
			if !strings.Contains(src, "$(") {
				t.Fatalf("rejected text without \"$(\": %q: %v", src, err)
			}
			return
		}
		out, _ := tpl.AppendRender(nil, &r.Ctx)
		if seg, st := tpl.AppendChecked(nil, &r.Ctx, PathSegment); st == OK && !tpl.HasVars() && !bytes.Equal(seg, out) {
			t.Fatalf("literal %q: checked %q, rendered %q", src, seg, out)
		}
		if !tpl.HasVars() {
			want := strings.ReplaceAll(src, "$$(", "$(")
			if !strings.Contains(src, "$$(") && !bytes.Equal(out, []byte(src)) {
				t.Fatalf("literal %q rendered as %q", src, out)
			}
			lit, _ := tpl.Literal()
			if strings.Count(src, "$(") == strings.Count(src, "$$(") && string(lit) != want && !strings.Contains(src, "$$$(") {
				t.Fatalf("literal %q: got %q want %q", src, lit, want)
			}
		}
		// Recompiling the source gives the same rendering.
		tpl2, err := Compile(tpl.String())
		if err != nil {
			t.Fatalf("recompile %q: %v", src, err)
		}
		out2, _ := tpl2.AppendRender(nil, &r.Ctx)
		if !bytes.Equal(out, out2) {
			t.Fatalf("unstable rendering of %q", src)
		}
	})
}
