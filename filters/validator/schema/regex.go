package schema

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// CompilePattern compiles an ECMA-262 regular expression (the dialect of
// `pattern` and `patternProperties`) into a Go regexp. Go's RE2 engine runs
// in time linear in the input, which a gateway needs (no ReDoS), and it
// differs from ECMA-262; the translation handles the differences as
// follows:
//
//   - `\s`/`\S` mean ECMA white space and line terminators (including
//     U+00A0, U+FEFF, U+2028, the Zs spaces), not RE2's ASCII set; `\v` too.
//   - `.` does not match line terminators (\n, \r, U+2028, U+2029).
//   - `\uXXXX` (with surrogate pairs), `\u{X…}`, `\cX`, `\0` and `[\b]`
//     (backspace) are rewritten to RE2 escapes; an identity escape of a
//     letter RE2 would read differently (`\a`, `\z`, `\A`, `\Q`, ...)
//     matches the letter itself, as in ECMA-262.
//   - `[` inside a class is literal (no POSIX `[[:alpha:]]`); `[]` matches
//     nothing and `[^]` any character.
//   - `^`/`$` anchor at the ends of the input in both (no multiline flag).
//   - Matching is by code point, as with ECMA's `u` flag (the suite's
//     non-BMP cases expect that).
//   - Not supported by RE2 and rejected when the config loads, naming the
//     keyword: lookahead/lookbehind (`(?=`, `(?!`, `(?<=`, `(?<!`),
//     backreferences (`\1`, `\k<name>`), repeat counts above 1000, and
//     Unicode property forms RE2 does not know (`\p{Script=Greek}`).
//
// The same translation is given to the fallback validator, so both paths
// read patterns alike.
func CompilePattern(p string) (*regexp.Regexp, error) {
	t, err := translateECMA(p)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(t)
	if err != nil {
		return nil, fmt.Errorf("pattern %q is not supported by Go's RE2: %w", p, err)
	}
	return re, nil
}

const (
	ecmaSpace    = `\t\n\x0B\f\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}`
	ecmaNonSpace = `\x00-\x08\x0E-\x1F\x21-\x{9F}\x{A1}-\x{167F}\x{1681}-\x{1FFF}\x{200B}-\x{2027}\x{202A}-\x{202E}\x{2030}-\x{205E}\x{2060}-\x{2FFF}\x{3001}-\x{FEFE}\x{FF00}-\x{10FFFF}`
)

func translateECMA(p string) (string, error) {
	var b strings.Builder
	inClass := false
	classStart := false // right after '[' or '[^'
	for i := 0; i < len(p); {
		c := p[i]
		if inClass && c == ']' && classStart {
			// [] or [^]: ECMA's empty class and any-character class
			j := strings.LastIndexByte(b.String(), '[')
			s := b.String()[:j]
			neg := strings.HasSuffix(b.String(), "[^")
			b.Reset()
			b.WriteString(s)
			if neg {
				b.WriteString(`[\x00-\x{10FFFF}]`)
			} else {
				b.WriteString(`[^\x00-\x{10FFFF}]`)
			}
			inClass, classStart = false, false
			i++
			continue
		}
		wasStart := classStart
		classStart = false
		switch {
		case c == '\\':
			n, err := translateEscape(&b, p, i, inClass)
			if err != nil {
				return "", err
			}
			i += n
			continue
		case inClass:
			switch c {
			case ']':
				inClass = false
			case '[':
				b.WriteString(`\[`)
				i++
				continue
			case '^':
				if wasStart {
					classStart = true
				}
			}
		case c == '[':
			inClass, classStart = true, true
		case c == '.':
			b.WriteString(`[^\n\r\x{2028}\x{2029}]`)
			i++
			continue
		case c == '(' && strings.HasPrefix(p[i:], "(?"):
			rest := p[i+2:]
			switch {
			case strings.HasPrefix(rest, "="), strings.HasPrefix(rest, "!"):
				return "", errors.New("lookahead (?= (?! is not supported (RE2 has no lookaround)")
			case strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, "<!"):
				return "", errors.New("lookbehind (?<= (?<! is not supported (RE2 has no lookaround)")
			case strings.HasPrefix(rest, ":"), strings.HasPrefix(rest, "<"):
			default:
				// ECMA-262 2025 modifiers (?ims-ims:...); no global (?i)
				// flags and no Python (?P<name>...)
				k := 0
				for k < len(rest) && strings.IndexByte("ims-", rest[k]) >= 0 {
					k++
				}
				if k == 0 || k >= len(rest) || rest[k] != ':' {
					return "", errors.New("group syntax (? is not valid ECMA-262 (inline flags need a ':' group, no (?P<name>)")
				}
			}
		}
		_, size := utf8.DecodeRuneInString(p[i:])
		b.WriteString(p[i : i+size])
		i += size
	}
	return b.String(), nil
}

// translateEscape writes the RE2 form of the escape at p[i] and returns its
// length in p.
func translateEscape(b *strings.Builder, p string, i int, inClass bool) (int, error) {
	if i+1 >= len(p) {
		return 0, errors.New(`pattern ends with a lone backslash`)
	}
	c := p[i+1]
	switch c {
	case 'd', 'D', 'w', 'W', 'f', 'n', 'r', 't':
		b.WriteString(p[i : i+2])
		return 2, nil
	case 'b', 'B':
		if inClass {
			if c == 'b' {
				b.WriteString(`\x08`)
				return 2, nil
			}
			return 0, errors.New(`\B is not valid inside a character class`)
		}
		b.WriteString(p[i : i+2])
		return 2, nil
	case 'v':
		b.WriteString(`\x0B`)
		return 2, nil
	case 's', 'S':
		set := ecmaSpace
		if c == 'S' {
			set = ecmaNonSpace
		}
		if inClass {
			b.WriteString(set)
		} else {
			b.WriteString("[" + set + "]")
		}
		return 2, nil
	case 'u':
		if i+2 < len(p) && p[i+2] == '{' {
			end := strings.IndexByte(p[i:], '}')
			if end < 0 {
				return 0, errors.New(`unterminated \u{...} escape`)
			}
			b.WriteString(`\x{` + p[i+3:i+end] + `}`)
			return end + 1, nil
		}
		r, ok := hex4([]byte(p), i+2)
		if !ok {
			b.WriteString("u") // identity escape
			return 2, nil
		}
		n := 6
		if r >= 0xD800 && r < 0xDC00 && i+11 < len(p) && p[i+6] == '\\' && p[i+7] == 'u' {
			if r2, ok := hex4([]byte(p), i+8); ok && r2 >= 0xDC00 && r2 < 0xE000 {
				r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
				n = 12
			}
		}
		fmt.Fprintf(b, `\x{%X}`, r)
		return n, nil
	case 'x':
		if i+3 < len(p) && isHex(p[i+2]) && isHex(p[i+3]) {
			b.WriteString(p[i : i+4])
			return 4, nil
		}
		b.WriteString("x")
		return 2, nil
	case 'c':
		if i+2 < len(p) && isAlpha(p[i+2]) {
			fmt.Fprintf(b, `\x{%X}`, p[i+2]%32)
			return 3, nil
		}
		b.WriteString(`\\c`)
		return 2, nil
	case '0':
		if i+2 < len(p) && isDigit(p[i+2]) {
			return 0, errors.New(`octal escapes are not supported`)
		}
		b.WriteString(`\x00`)
		return 2, nil
	case '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return 0, errors.New("backreferences (\\1) are not supported (RE2)")
	case 'k':
		if i+2 < len(p) && p[i+2] == '<' {
			return 0, errors.New(`named backreferences (\k<name>) are not supported (RE2)`)
		}
		b.WriteString("k")
		return 2, nil
	case 'p', 'P':
		b.WriteString(p[i : i+2])
		return 2, nil
	}
	if isAlpha(c) {
		// \a, \e, \z, \A, \Q ... mean different things in RE2, PCRE and
		// ECMA-262 (where, with the u flag, they are errors): refuse them.
		return 0, fmt.Errorf(`escape \%c is not valid ECMA-262`, c)
	}
	r, size := utf8.DecodeRuneInString(p[i+1:])
	if r < utf8.RuneSelf {
		// escaped punctuation is itself in both dialects (and stays
		// escaped, so `[a\-z]` keeps its literal '-')
		b.WriteByte('\\')
		b.WriteByte(byte(r))
	} else {
		b.WriteString(p[i+1 : i+1+size])
	}
	return 1 + size, nil
}
