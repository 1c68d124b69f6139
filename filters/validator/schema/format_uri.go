package schema

import "bytes"

// isDuration checks an RFC 3339 (Appendix A) duration: P then date units
// Y, M, D (each optional but contiguous: no Y then D), then T and H, M, S
// likewise, or a number of weeks.
func isDuration(s []byte) bool {
	if len(s) < 2 || s[0] != 'P' {
		return false
	}
	s = s[1:]
	if len(s) > 1 && s[len(s)-1] == 'W' {
		return allDigits(s[:len(s)-1])
	}
	date, tm := s, []byte(nil)
	if i := bytes.IndexByte(s, 'T'); i >= 0 {
		date, tm = s[:i], s[i+1:]
		if len(tm) == 0 {
			return false
		}
	}
	if len(date) == 0 && tm == nil {
		return false
	}
	return durUnits(date, "YMD") && durUnits(tm, "HMS")
}

// durUnits checks digit-unit pairs whose units are a contiguous run of
// units (in order).
func durUnits(s []byte, units string) bool {
	last := -1
	for len(s) > 0 {
		k := 0
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k == 0 || k == len(s) {
			return false
		}
		u := bytes.IndexByte([]byte(units), s[k])
		if u < 0 || (last >= 0 && u != last+1) {
			return false
		}
		last = u
		s = s[k+1:]
	}
	return true
}

// isIRI is isURI allowing non-ASCII characters (RFC 3987 ucschar).
func isIRI(s []byte) bool { return uriCheck(s, true, false) }

// isURIReference accepts a URI or a relative reference (RFC 3986 4.1).
func isURIReference(s []byte) bool { return uriCheck(s, false, true) }

func isIRIReference(s []byte) bool { return uriCheck(s, true, true) }

func uriCheck(s []byte, iri, rel bool) bool {
	rest := s
	colon := bytes.IndexByte(s, ':')
	slash := bytes.IndexAny(s, "/?#")
	if colon >= 0 && (slash < 0 || colon < slash) {
		// scheme
		if colon < 1 || !isAlpha(s[0]) {
			return false
		}
		for _, c := range s[1:colon] {
			if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
				return false
			}
		}
		rest = s[colon+1:]
	} else if !rel {
		return false
	}
	chars := func(b []byte, extra string) bool {
		if iri {
			return iriChars(b, extra)
		}
		return uriChars(b, extra)
	}
	if i := bytes.IndexByte(rest, '#'); i >= 0 {
		if !chars(rest[i+1:], ":@/?") {
			return false
		}
		rest = rest[:i]
	}
	if i := bytes.IndexByte(rest, '?'); i >= 0 {
		if !chars(rest[i+1:], ":@/?") {
			return false
		}
		rest = rest[:i]
	}
	if len(rest) >= 2 && rest[0] == '/' && rest[1] == '/' {
		auth := rest[2:]
		path := []byte(nil)
		if i := bytes.IndexByte(auth, '/'); i >= 0 {
			auth, path = auth[:i], auth[i:]
		}
		if bytes.Count(auth, []byte("@")) > 1 {
			return false
		}
		if iri && !isASCII(string(auth)) {
			if i := bytes.LastIndexByte(auth, '@'); i >= 0 && !iriChars(auth[:i], ":") {
				return false
			}
			return chars(path, ":@/")
		}
		if !isAuthority(auth) {
			return false
		}
		return chars(path, ":@/")
	}
	return chars(rest, ":@/")
}

// iriChars is uriChars that also allows UTF-8 encoded non-ASCII.
func iriChars(s []byte, extra string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			continue
		}
		j := i
		for j < len(s) && s[j] < 0x80 {
			j++
		}
		if !uriChars(s[i:j], extra) {
			return false
		}
		i = j - 1
	}
	return true
}

// isURITemplate checks RFC 6570 syntax: literals and {expressions} with an
// optional operator and comma-separated varspecs (name, name:prefix 1-9999,
// name*).
func isURITemplate(s []byte) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '{' {
			end := bytes.IndexByte(s[i:], '}')
			if end < 0 || !isExpression(s[i+1:i+end]) {
				return false
			}
			i += end
			continue
		}
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
			continue
		}
		if c <= ' ' || c == 0x7f || bytes.IndexByte([]byte("\"<>\\^`|}"), c) >= 0 {
			return false
		}
	}
	return true
}

func isExpression(e []byte) bool {
	if len(e) > 0 && bytes.IndexByte([]byte("+#./;?&=,!@|"), e[0]) >= 0 {
		if bytes.IndexByte([]byte("=,!@|"), e[0]) >= 0 {
			return false // reserved for future extensions
		}
		e = e[1:]
	}
	if len(e) == 0 {
		return false
	}
	for _, spec := range bytes.Split(e, []byte(",")) {
		name := spec
		if len(name) > 0 && name[len(name)-1] == '*' {
			name = name[:len(name)-1]
		} else if k := bytes.IndexByte(name, ':'); k >= 0 {
			n := name[k+1:]
			if len(n) == 0 || len(n) > 4 || n[0] == '0' || !allDigits(n) {
				return false
			}
			name = name[:k]
		}
		if len(name) == 0 || name[0] == '.' || name[len(name)-1] == '.' || bytes.Contains(name, []byte("..")) {
			return false
		}
		for k := 0; k < len(name); k++ {
			c := name[k]
			switch {
			case isAlpha(c), isDigit(c), c == '_', c == '.':
			case c == '%' && k+2 < len(name) && isHex(name[k+1]) && isHex(name[k+2]):
				k += 2
			default:
				return false
			}
		}
	}
	return true
}
