package botdetect

import (
	"bufio"
	"os"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
)

func mustCompile(t testing.TB, lists ...[]string) *Matcher {
	t.Helper()
	m, err := Compile(lists)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatcherPriorityAndCase(t *testing.T) {
	m := mustCompile(t,
		[]string{"GoogleBot", "Bingbot", "^MyMonitor/"}, // allow
		[]string{"curl", "wget", "python-requests", "Go-http-client", "monitor"},
		[]string{`(?:bot|spider)[ /]\d`},
	)
	cases := []struct {
		ua   string
		from int
		want int
	}{
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0, 0}, // GoogleBot ≈ Googlebot
		{"Mozilla/5.0 (compatible; bingbot/2.0)", 0, 0},
		{"Wget/1.21.4", 0, 1},                             // wget ≈ Wget
		{"CURL/8", 0, 1},                                  //
		{"MyMonitor/1.0", 0, 0},                           // allow wins over deny "monitor"
		{"x MyMonitor/1.0", 0, 1},                         // anchored allow misses, deny hits
		{"SomeBot/1.0", 0, 2},                             //
		{"Mozilla/5.0 (compatible; Googlebot/2.1)", 1, 2}, // from 1: allow skipped
		{"Mozilla/5.0 Firefox/125.0", 0, -1},
		{"", 0, -1},
		{"\u212Aurl wget", 0, 1}, // Kelvin sign folds to k: "kurl" no, but wget yes
		{"\u212Aurl/1", 0, -1},   //
		{"python-\u0280equests", 0, -1},
	}
	for _, tc := range cases {
		if got := m.Match([]byte(tc.ua), tc.from); got != tc.want {
			t.Errorf("Match(%q, %d) = %d, want %d", tc.ua, tc.from, got, tc.want)
		}
	}
	// Unicode case folding as Go's (?i) does it
	k := mustCompile(t, []string{"kong"}, []string{"(?-i)Spider"})
	if k.Match([]byte("\u212Aong"), 0) != 0 {
		t.Error("KELVIN SIGN not folded to k")
	}
	if k.Match([]byte("spider"), 0) != -1 || k.Match([]byte("Spider"), 0) != 1 {
		t.Error("(?-i) pattern not case-sensitive")
	}
	if k.Match([]byte("\u017Fpider"), 0) != -1 {
		t.Error("LONG S matched a case-sensitive S")
	}
}

func TestMatcherStats(t *testing.T) {
	m := mustCompile(t, []string{"curl", "a|b", "[Kk]ong", "^Go-http-client/", `\d+\.\d+`, "x.*y", `\w+\d`})
	st := m.Stats()
	// curl, a|b and [Kk]ong are exact ((?i) adds the Kelvin sign to the
	// class); ^Go..., \d+\.\d+ (on ".") and x.*y (on "x" or "y") are
	// confirmed by their regexp; \w+\d has no literal and always runs.
	if st.Patterns != 7 || st.Always != 1 || st.Exact != 3 || st.Confirmed != 3 {
		t.Errorf("stats %+v", st)
	}
	if got := m.Always(0); !slices.Equal(got, []int{6}) {
		t.Errorf("Always = %v", got)
	}
}

func TestMatcherErrors(t *testing.T) {
	_, err := Compile([][]string{{"ok"}, {"fine", "(?<=x)y"}})
	pe, ok := err.(*PatternError)
	if !ok || pe.List != 1 || pe.Index != 1 {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(err.Error(), "`(?<=x)y`") || !strings.Contains(err.Error(), "RE2") ||
		strings.Contains(err.Error(), "(?i)") {
		t.Errorf("message %q", err)
	}
	if _, err := Compile([][]string{make([]string, MaxPatterns+1)}); err == nil {
		t.Error("too many patterns accepted")
	}
}

// TestBuiltinRules checks that every built-in rule compiles to literals
// (none runs its regexp on every request) and that the corpus of real
// User-Agents lands in the expected groups: browsers and the clients Kong
// lets through match nothing.
func TestBuiltinRulesCorpus(t *testing.T) {
	byGroup := map[string][]string{}
	for _, r := range Rules {
		byGroup[r.Group] = append(byGroup[r.Group], r.Pattern)
	}
	groups := []string{GroupScanners, GroupCrawlers, GroupClients}
	var lists [][]string
	for _, g := range groups {
		lists = append(lists, byGroup[g])
	}
	m := mustCompile(t, lists...)
	singles := []*Matcher{mustCompile(t, lists[0]), mustCompile(t, lists[1]), mustCompile(t, lists[2])}
	if st := m.Stats(); st.Always != 0 {
		t.Errorf("built-in rules without literals: %+v", st)
	}
	f, err := os.Open("testdata/user_agents.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		want, ua, _ := strings.Cut(line, "\t")
		n++
		for i, g := range groups {
			_ = m
			// does group i match on its own? (Match from i would stop
			// at a match of a later group too)
			got := singles[i].Match([]byte(ua), 0) == 0
			if want == "none" && got {
				t.Errorf("%q matches group %s", ua, g)
			}
			if want == g && !got {
				t.Errorf("%q does not match group %s", ua, g)
			}
		}
	}
	if n < 50 {
		t.Errorf("corpus has only %d entries", n)
	}
}

func TestAnalyze(t *testing.T) {
	cases := []struct {
		re    string
		exact bool
		set   []string
	}{
		{"curl", true, []string{"curl"}},
		{"Go-HTTP-Client", true, []string{"go-http-client"}},
		{"a|bc", true, []string{"a", "bc"}},
		{"yandex(?:bot|images)", true, []string{"yandexbot", "yandeximages"}},
		{"crawl(?:er)?/", true, []string{"crawl/", "crawler/"}},
		{"^curl", false, []string{"curl"}},
		{`java/\d`, false, []string{"java/"}},
		{"foo.*barbaz", false, []string{"barbaz"}},
		{`\d+`, false, nil},
		{"a*", false, nil},
		{"(?:abc)+", false, []string{"abc"}},
		{"x{2,3}", true, []string{"xx", "xxx"}},
		{"x{2,}", false, []string{"xx"}},
		{"stra\u00dfe", false, []string{"stra"}}, // non-ASCII rune cuts the literal
		{"(?-i)Foo", false, []string{"foo"}},     // case-sensitive: confirm
		{"[ab]c", true, []string{"ac", "bc"}},
		{"[^a]", false, nil},
	}
	for _, tc := range cases {
		re, err := syntax.Parse("(?i)"+tc.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		in := analyze(re.Simplify())
		if tc.set == nil {
			if usable(in.set) {
				t.Errorf("%q: expected no usable literal, got %+v", tc.re, in)
			}
			continue
		}
		if in.exact != tc.exact || !slices.Equal(in.set, tc.set) {
			t.Errorf("%q: got exact=%v %q, want exact=%v %q", tc.re, in.exact, in.set, tc.exact, tc.set)
		}
	}
}
