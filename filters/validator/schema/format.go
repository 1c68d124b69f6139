package schema

import (
	"bytes"
	"net/netip"
	"strings"
	"unsafe"
)

// formatFuncs are the fast-path format checks. They work on the decoded
// string bytes and allocate nothing. email, hostname, uuid, ipv4, date,
// time and date-time follow the reference implementation's rules (minus its
// leniencies: it accepts "+1" as an octet or an hour through strconv.Atoi);
// uri is RFC 3986 (an absolute URI, ASCII only), stricter than net/url.
// The same functions are registered with the fallback so both paths agree.
var formatFuncs = map[string]func([]byte) bool{
	"email":     isEmail,
	"hostname":  isHostname,
	"uuid":      isUUID,
	"ipv4":      isIPv4,
	"ipv6":      isIPv6,
	"date":      isDate,
	"time":      isTime,
	"date-time": isDateTime,
	"uri":       isURI,

	"duration":      isDuration,
	"iri":           isIRI,
	"uri-reference": isURIReference,
	"iri-reference": isIRIReference,
	"uri-template":  isURITemplate,
	"idn-hostname":  isIDNHostname,
	"idn-email":     isIDNEmail,
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isHex(c byte) bool   { return hexVal[c] >= 0 }

// bstr views b as a string without copying; the string must not outlive b.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// isHostname checks an RFC 1123 host name: LDH labels of 1-63 characters,
// at most 253 in all, no trailing dot (the suite and RFC 5890 agree), and
// labels starting "xn--" must be valid A-labels.
func isHostname(s []byte) bool {
	if len(s) > 253 {
		return false
	}
	for {
		i := bytes.IndexByte(s, '.')
		label := s
		if i >= 0 {
			label = s[:i]
		}
		if len(label) < 1 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !isAlpha(c) && !isDigit(c) && c != '-' {
				return false
			}
		}
		if len(label) >= 4 && label[2] == '-' && label[3] == '-' && !isALabel(label) {
			return false
		}
		if i < 0 {
			return true
		}
		s = s[i+1:]
	}
}

func isEmail(s []byte) bool {
	if len(s) > 254 {
		return false
	}
	at := bytes.LastIndexByte(s, '@')
	if at < 0 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return false
	}
	if len(local) > 1 && local[0] == '"' && local[len(local)-1] == '"' {
		q := local[1 : len(local)-1]
		if bytes.IndexByte(q, '\\') >= 0 || bytes.IndexByte(q, '"') >= 0 {
			return false
		}
	} else {
		if len(local) == 0 || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(bstr(local), "..") {
			return false
		}
		for _, c := range local {
			if !isAlpha(c) && !isDigit(c) && strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", c) < 0 {
				return false
			}
		}
	}
	if len(domain) > 1 && domain[0] == '[' && domain[len(domain)-1] == ']' {
		ip := domain[1 : len(domain)-1]
		if len(ip) >= 5 && string(ip[:5]) == "IPv6:" {
			return isIPv6(ip[5:])
		}
		return isIPv4(ip)
	}
	return isHostname(domain)
}

func isUUID(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isIPv4(s []byte) bool {
	groups := 0
	for {
		i := bytes.IndexByte(s, '.')
		g := s
		if i >= 0 {
			g = s[:i]
		}
		if len(g) == 0 || len(g) > 3 || (len(g) > 1 && g[0] == '0') {
			return false
		}
		v := 0
		for _, c := range g {
			if !isDigit(c) {
				return false
			}
			v = v*10 + int(c-'0')
		}
		if v > 255 {
			return false
		}
		groups++
		if i < 0 {
			return groups == 4
		}
		if groups == 4 {
			return false
		}
		s = s[i+1:]
	}
}

func isIPv6(s []byte) bool {
	if bytes.IndexByte(s, ':') < 0 || bytes.IndexByte(s, '%') >= 0 {
		return false
	}
	a, err := netip.ParseAddr(bstr(s))
	return err == nil && a.Is6() && a.Zone() == ""
}

func num2(s []byte) (int, bool) {
	if len(s) != 2 || !isDigit(s[0]) || !isDigit(s[1]) {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// isDate checks RFC 3339 full-date (what time.Parse("2006-01-02") accepts).
func isDate(s []byte) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	y := 0
	for _, c := range s[:4] {
		if !isDigit(c) {
			return false
		}
		y = y*10 + int(c-'0')
	}
	mo, ok1 := num2(s[5:7])
	dd, ok2 := num2(s[8:10])
	if !ok1 || !ok2 || mo < 1 || mo > 12 || dd < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[mo-1]
	if mo == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return dd <= days
}

// isTime checks RFC 3339 full-time; a leap second is valid only at
// 23:59:60 UTC (after applying the offset).
func isTime(s []byte) bool {
	if len(s) < 9 || s[2] != ':' || s[5] != ':' {
		return false
	}
	h, ok1 := num2(s[0:2])
	m, ok2 := num2(s[3:5])
	sec, ok3 := num2(s[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 60 {
		return false
	}
	s = s[8:]
	if len(s) > 0 && s[0] == '.' {
		k := 1
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k == 1 {
			return false
		}
		s = s[k:]
	}
	if len(s) == 1 && (s[0] == 'z' || s[0] == 'Z') {
		// UTC
	} else {
		if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
			return false
		}
		zh, ok1 := num2(s[1:3])
		zm, ok2 := num2(s[4:6])
		if !ok1 || !ok2 || zh > 23 || zm > 59 {
			return false
		}
		sign := 1
		if s[0] == '+' {
			sign = -1
		}
		hm := h*60 + m + sign*(zh*60+zm)
		if hm < 0 {
			hm += 24 * 60
		}
		hm %= 24 * 60
		h, m = hm/60, hm%60
	}
	return sec < 60 || (h == 23 && m == 59)
}

func isDateTime(s []byte) bool {
	if len(s) < 20 || (s[10] != 'T' && s[10] != 't') {
		return false
	}
	return isDate(s[:10]) && isTime(s[11:])
}

// uri character classes (RFC 3986)
const (
	uUnreserved = 1 << iota
	uSubDelim
	uGenDelim
)

var uriClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if isAlpha(b) || isDigit(b) || b == '-' || b == '.' || b == '_' || b == '~' {
			t[c] |= uUnreserved
		}
	}
	for _, c := range []byte("!$&'()*+,;=") {
		t[c] |= uSubDelim
	}
	for _, c := range []byte(":/?#[]@") {
		t[c] |= uGenDelim
	}
	return t
}()

// uriChars checks s against allowed classes plus extra bytes, with
// percent-encoding.
func uriChars(s []byte, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if uriClass[c]&(uUnreserved|uSubDelim) != 0 {
			continue
		}
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
			continue
		}
		ok := false
		for k := 0; k < len(extra); k++ {
			if extra[k] == c {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// isURI checks an absolute URI: scheme ":" hier-part [ "?" query ] [ "#" fragment ]
// (uriCheck without IRI characters or relative references).
func isURI(s []byte) bool { return uriCheck(s, false, false) }

func isAuthority(a []byte) bool {
	if i := bytes.LastIndexByte(a, '@'); i >= 0 {
		if !uriChars(a[:i], ":") {
			return false
		}
		a = a[i+1:]
	}
	if len(a) > 0 && a[0] == '[' {
		end := bytes.IndexByte(a, ']')
		if end < 0 {
			return false
		}
		lit := a[1:end]
		if len(lit) > 0 && (lit[0] == 'v' || lit[0] == 'V') {
			dot := bytes.IndexByte(lit, '.')
			if dot < 2 || dot == len(lit)-1 {
				return false
			}
			for _, c := range lit[1:dot] {
				if !isHex(c) {
					return false
				}
			}
			if !uriChars(lit[dot+1:], ":") {
				return false
			}
		} else if !isIPv6(lit) {
			return false
		}
		a = a[end+1:]
		if len(a) == 0 {
			return true
		}
		if a[0] != ':' {
			return false
		}
		return allDigits(a[1:])
	}
	if i := bytes.LastIndexByte(a, ':'); i >= 0 {
		if !allDigits(a[i+1:]) {
			return false
		}
		a = a[:i]
	}
	return uriChars(a, "")
}

func allDigits(s []byte) bool {
	for _, c := range s {
		if !isDigit(c) {
			return false
		}
	}
	return true
}
