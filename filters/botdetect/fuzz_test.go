package botdetect

import (
	"regexp"
	"strings"
	"testing"
)

// naiveMatch is the reference: every pattern of every list, in order.
func naiveMatch(lists [][]*regexp.Regexp, ua []byte, from int) int {
	for l := from; l < len(lists); l++ {
		for _, re := range lists[l] {
			if re.Match(ua) {
				return l
			}
		}
	}
	return -1
}

// FuzzMatcher compiles fuzzed pattern lists (lists separated by "\n\n",
// patterns by "\n") and checks that the prefiltered Matcher gives the same
// answer as running every regexp on the fuzzed input, from every start list.
func FuzzMatcher(f *testing.F) {
	seeds := [][2]string{
		{"GoogleBot\nBingbot\n\ncurl\nwget\npython-requests\nGo-http-client", "Wget/1.21.4"},
		{"googlebot\n\ncurl", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
		{"(?-i)Foo\n\n[Kk]ong", "foo \u212Aong"},
		{"^curl/\\d\n\n\\bbot\\b", "curl/8.4.0"},
		{"a|b|c\n\nx?y+z*", "xyz"},
		{"(?i)stra\u00dfe\n\n\u017Fcan", "SCAN stra\u00dfe"},
		{"[^a]\n\n.*", ""},
		{"spider|crawl(?:er)?[ /]v?\\d\n\nbot$", "MyCrawler/2.0 bot"},
		{"\\x{212A}elvin\n\n[s\u017F]cope", "kelvin SCOPE"},
		{"", "anything"},
		{"a{2,5}b\n\n(ab)+", "aaab"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, spec, ua string) {
		var lists [][]string
		for _, block := range strings.Split(spec, "\n\n") {
			lists = append(lists, strings.Split(block, "\n"))
		}
		if len(lists) > 8 {
			return
		}
		m, err := Compile(lists)
		// reference regexps; compile errors must agree
		var refs [][]*regexp.Regexp
		refErr := false
		for _, l := range lists {
			var rl []*regexp.Regexp
			for _, p := range l {
				re, err := regexp.Compile("(?i)" + p)
				if err != nil {
					refErr = true
					break
				}
				rl = append(rl, re)
			}
			refs = append(refs, rl)
		}
		if (err != nil) != refErr {
			t.Fatalf("Compile error %v, reference error %v", err, refErr)
		}
		if err != nil {
			return
		}
		for from := range lists {
			got := m.Match([]byte(ua), from)
			want := naiveMatch(refs, []byte(ua), from)
			if got != want {
				t.Fatalf("lists %q, ua %q, from %d: Match = %d, reference = %d", lists, ua, from, got, want)
			}
		}
	})
}

// FuzzCountUserAgents checks the raw-header scan against a plain
// reference: lines split at '\n', name before ':' trimmed of spaces and
// tabs, compared case-insensitively.
func FuzzCountUserAgents(f *testing.F) {
	f.Add("Host: x\r\nUser-Agent: a\r\nuser-agent: b\r\n\r\n")
	f.Add("User-Agent : a\r\nX-User-Agent: b\r\n")
	f.Add("USER-AGENT:\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		want := 0
		for _, line := range strings.Split(raw, "\n") {
			name, _, ok := strings.Cut(line, ":")
			if ok && strings.EqualFold(strings.TrimRight(name, " \t"), "user-agent") {
				want++
			}
		}
		want = min(want, 2)
		if got := countUserAgents([]byte(raw)); got != want {
			t.Fatalf("%q: %d, want %d", raw, got, want)
		}
	})
}
