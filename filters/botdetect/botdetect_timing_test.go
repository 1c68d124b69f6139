package botdetect_test

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters/botdetect"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// benchPatterns returns n deny patterns in the style of real lists: mostly
// product names, some with versions, anchors or alternations.
func benchPatterns(n int) []string {
	r := rand.New(rand.NewPCG(42, 42))
	words := []string{"acme", "zeta", "omni", "hyper", "data", "grab", "fetch", "scan", "probe", "pull", "agent", "client", "loader", "harvest", "sync", "mirror"}
	out := make([]string, 0, n)
	for i := range n {
		w1, w2 := words[r.IntN(len(words))], words[r.IntN(len(words))]
		switch i % 5 {
		case 0, 1:
			out = append(out, fmt.Sprintf("%s%s%d", w1, w2, i)) // plain name
		case 2:
			out = append(out, fmt.Sprintf(`%s-%s/\d+`, w1, w2)+fmt.Sprint(i)) // name/version
		case 3:
			out = append(out, fmt.Sprintf(`^%s%d `, w1, i)) // anchored
		case 4:
			out = append(out, fmt.Sprintf(`(?:%s|%s)bot%d`, w1, w2, i)) // alternation
		}
	}
	return out
}

func benchConfig(n int) string {
	var b strings.Builder
	b.WriteString("builtin: [kong]\nallow:\n  - \"^InternalMonitor/\"\ndeny:\n")
	for _, p := range benchPatterns(n) {
		fmt.Fprintf(&b, "  - %q\n", p)
	}
	return b.String()
}

var benchUAs = []struct{ name, ua string }{
	{"browser", chrome},
	{"googlebot", googlebot},
	{"deny-hit", "Mozilla/5.0 " + benchPatterns(500)[250] + " build"}, // a plain name
	{"allow-hit", "InternalMonitor/2.0"},
	{"api-client", "Go-http-client/1.1"},
	{"long-1KiB", chrome + strings.Repeat(" Extension/1.0", 64)},
	{"long-16KiB", chrome + strings.Repeat(" Extension/1.0", 1160)}, // about the server's header limit
}

// BenchmarkAccess is the UA decision (Access) with the built-in list plus
// 500 deny patterns, against a baseline with only the built-in list. The
// -nocache variants measure the matcher itself (every UA new, as with an
// attacker rotating User-Agents); -cached is a repeated UA (ordinary
// traffic).
func BenchmarkAccess(b *testing.B) {
	for _, cfg := range []struct{ name, yaml string }{
		{"builtin-only-nocache", "builtin: [kong]\nua_cache: 0\n"},
		{"builtin+500-nocache", benchConfig(500) + "ua_cache: 0\n"},
		{"builtin+500-cached", benchConfig(500)},
		{"builtin+500+score-nocache", benchConfig(500) + "ua_cache: 0\nscore: {enabled: true}\n"},
	} {
		f := build(b, cfg.yaml)
		for _, u := range benchUAs {
			b.Run(cfg.name+"/"+u.name, func(b *testing.B) {
				r := filtertest.NewRequest("GET", "/", "203.0.113.7")
				r.RC.Request.Header.SetUserAgent(u.ua)
				r.RC.Request.Header.Set("Accept-Language", "en")
				b.ReportAllocs()
				for b.Loop() {
					f.Access(&r.Ctx)
					if r.Ctx.RejectedBy != "" {
						r.Reset()
					}
				}
			})
		}
	}
}

// BenchmarkMatch compares the prefiltered Matcher with the two obvious
// alternatives on the same 500 + built-in patterns: one combined
// case-insensitive regexp per list, and a loop over per-pattern regexps.
func BenchmarkMatch(b *testing.B) {
	deny := benchPatterns(500)
	var builtin []string
	for _, r := range botdetect.Rules {
		builtin = append(builtin, r.Pattern)
	}
	m, err := botdetect.Compile([][]string{{"^InternalMonitor/"}, deny, builtin})
	if err != nil {
		b.Fatal(err)
	}
	combined := []*regexp.Regexp{
		regexp.MustCompile("(?i)^InternalMonitor/"),
		regexp.MustCompile("(?i)(?:" + strings.Join(deny, ")|(?:") + ")"),
		regexp.MustCompile("(?i)(?:" + strings.Join(builtin, ")|(?:") + ")"),
	}
	var loop []*regexp.Regexp
	for _, p := range append(append([]string{"^InternalMonitor/"}, deny...), builtin...) {
		loop = append(loop, regexp.MustCompile("(?i)"+p))
	}
	for _, u := range []struct{ name, ua string }{benchUAs[0], benchUAs[2], benchUAs[4]} {
		ua := []byte(u.ua)
		b.Run("matcher/"+u.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Match(ua, 0)
			}
		})
		b.Run("combined-regexp/"+u.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, re := range combined {
					if re.Match(ua) {
						break
					}
				}
			}
		})
		b.Run("regexp-loop/"+u.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, re := range loop {
					if re.Match(ua) {
						break
					}
				}
			}
		})
	}
}

// BenchmarkCompile measures building the matcher for the built-in list
// plus 500 patterns (config load, not the request path).
func BenchmarkCompile(b *testing.B) {
	deny := benchPatterns(500)
	var builtin []string
	for _, r := range botdetect.Rules {
		builtin = append(builtin, r.Pattern)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := botdetect.Compile([][]string{nil, deny, builtin}); err != nil {
			b.Fatal(err)
		}
	}
}
