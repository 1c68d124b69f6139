package schema

import (
	"math/big"
	"strings"
	"testing"
)

func TestDecimalCompare(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1", "1.0", 0}, {"1e2", "100", 0}, {"0.1e1", "1", 0}, {"-0", "0", 0}, {"0e99", "0.000", 0},
		{"1", "2", -1}, {"-1", "-2", 1}, {"-0.5", "0", -1}, {"10", "9.99999999999999999999", 1},
		{"9007199254740993", "9007199254740992", 1}, // float64 would say equal
		{"1e308", "1e309", -1}, {"1e-400", "0", 1}, {"123.456e-2", "1.23456", 0},
		{"18446744073709551616", "18446744073709551615", 1}, {"-1e-5", "-0.00001", 0},
	}
	for _, c := range cases {
		x, y := parseNum([]byte(c.a)), parseNum([]byte(c.b))
		if got := cmpNum(&x, &y); got != c.want {
			t.Errorf("cmp(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := cmpNum(&y, &x); got != -c.want {
			t.Errorf("cmp(%s, %s) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

func TestMultipleOfExact(t *testing.T) {
	cases := []struct {
		x, d string
	}{
		{"0.3", "0.1"}, {"4.35", "0.01"}, {"1e308", "0.5"}, {"19.99", "0.01"}, {"7", "7"}, {"0", "3"},
		{"0.0075", "0.0001"}, {"123456789012345678901234567890", "10"}, {"1.1", "0.3"}, {"5", "2"},
		{"1e-7", "1e-8"}, {"0.00751", "0.0001"}, {"36893488147419103232", "18446744073709551616"},
		{"2e400", "4e399"}, {"3e400", "4e399"}, {"-9", "3"}, {"10", "0.3"}, {"12", "12345678901234567890123"},
	}
	for _, c := range cases {
		x, d := parseNum([]byte(c.x)), parseNum([]byte(c.d))
		dv := newDivisor(d)
		got := multipleOf(&x, &dv)
		rx, _ := new(big.Rat).SetString(c.x)
		rd, _ := new(big.Rat).SetString(c.d)
		want := new(big.Rat).Quo(rx, rd).IsInt()
		if got != want {
			t.Errorf("multipleOf(%s, %s) = %v, want %v", c.x, c.d, got, want)
		}
	}
}

func TestIsInt(t *testing.T) {
	for s, want := range map[string]bool{"1": true, "1.0": true, "1e2": true, "1.5e1": true, "1.25e1": false, "0.5": false, "-0": true, "1e-1": false, "100e-2": true} {
		x := parseNum([]byte(s))
		if x.isInt() != want {
			t.Errorf("isInt(%s) = %v", s, !want)
		}
	}
}

func TestECMAPatterns(t *testing.T) {
	cases := []struct {
		pattern, input string
		match          bool
	}{
		{`^\s$`, "\u00a0", true}, {`^\s$`, "\ufeff", true}, {`^\S$`, "\u00a0", false}, {`^[\S]$`, "a", true},
		{`^[\s\S]$`, "\u2028", true}, {`^.$`, "\n", false}, {`^.$`, "\u2028", false}, {`^.$`, "🐲", true},
		{`^\d+$`, "١٢", false}, {`^\w$`, "é", false}, {`^\u0041$`, "A", true}, {`^\uD83D\uDC32$`, "🐲", true},
		{`^[a\-z]$`, "-", true}, {`^[a\-z]$`, "b", false}, {`^[^]$`, "x", true}, {`^a[]`, "a", false},
		{`^\cJ$`, "\n", true}, {`\0`, "\x00", true}, {`^[[]$`, "[", true}, {`^\/$`, "/", true},
		{`^(?<year>\d{4})$`, "2024", true}, {`^(?i:ab)$`, "AB", true}, {`^\v$`, "\v", true}, {`a{`, "a{", true},
	}
	for _, c := range cases {
		re, err := CompilePattern(c.pattern)
		if err != nil {
			t.Errorf("%q: %v", c.pattern, err)
			continue
		}
		if got := re.MatchString(c.input); got != c.match {
			t.Errorf("%q on %q: %v, want %v (RE2 %s)", c.pattern, c.input, got, c.match, re)
		}
	}
	for _, p := range []string{`(?=a)`, `(?!a)`, `(?<=a)b`, `(?<!a)b`, `(a)\1`, `(?<n>a)\k<n>`, `\a`, `(?i)a`, `(?P<n>a)`, `a{1,2000}`, `\p{Script=Greek}`} {
		if _, err := CompilePattern(p); err == nil {
			t.Errorf("%q accepted", p)
		} else if !strings.Contains(err.Error(), "") {
			t.Error(err)
		}
	}
}

func TestFormats(t *testing.T) {
	cases := map[string][]struct {
		s  string
		ok bool
	}{
		"email":     {{"a@b.co", true}, {"a.b+c@example.com", true}, {"@example.com", false}, {"a..b@c.d", false}, {`"a b"@c.d`, true}, {"a@[127.0.0.1]", true}, {"a@-b.c", false}},
		"ipv4":      {{"0.0.0.0", true}, {"255.255.255.255", true}, {"256.1.1.1", false}, {"01.1.1.1", false}, {"+1.1.1.1", false}, {"1.1.1", false}, {"1.1.1.1.", false}},
		"ipv6":      {{"::1", true}, {"fe80::1%eth0", false}, {"1.2.3.4", false}, {"::ffff:1.2.3.4", true}},
		"date-time": {{"2024-02-29T23:59:60Z", true}, {"2024-02-29T22:59:60+01:00", false}, {"2024-02-29t12:00:00.5-05:30", true}, {"2023-02-29T00:00:00Z", false}},
		"uri":       {{"https://example.com/a?b#c", true}, {"urn:isbn:0451450523", true}, {"//example.com", false}, {"http://exa mple.com", false}, {"http://[::1]:8080/", true}, {"http://é.com", false}},
		"uuid":      {{"123e4567-e89b-12d3-a456-426614174000", true}, {"123e4567e89b12d3a456426614174000", false}},
		"hostname":  {{"example.com", true}, {"example.", false}, {"-a.com", false}, {strings.Repeat("a", 64) + ".com", false}, {"xn--bcher-kva.example", true}, {"xn--X", false}},
		"duration":  {{"P1Y2M3DT4H5M6S", true}, {"P1W", true}, {"P1Y2D", false}, {"PT", false}, {"P", false}},
	}
	for name, list := range cases {
		f := formatFuncs[name]
		for _, c := range list {
			if got := f([]byte(c.s)); got != c.ok {
				t.Errorf("%s(%q) = %v, want %v", name, c.s, got, c.ok)
			}
		}
	}
}
