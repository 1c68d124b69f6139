package validator

import (
	"bytes"
	"errors"
	"strings"
)

// mediaType is a parsed Content-Type: type/subtype (lower case) and
// parameters (names lower case; charset values lower case).
type mediaType struct {
	typ, sub string
	params   []param2
}

type param2 struct{ name, value string }

// allowedType is one entry of allowed_content_types.
type allowedType struct {
	mediaType
	raw string
}

const maxParams = 8

// ctView is a parsed request Content-Type that points into the header
// bytes (no allocation).
type ctView struct {
	typ, sub []byte
	n        int
	names    [maxParams][]byte
	values   [maxParams][]byte
	quoted   [maxParams]bool
}

func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return strings.IndexByte(`()<>@,;:\"/[]?={}`, c) < 0
}

func token(b []byte, i int) int {
	for i < len(b) && isTokenChar(b[i]) {
		i++
	}
	return i
}

func skipOWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

var errBadMediaType = errors.New("malformed media type")

// parseContentType parses b (RFC 9110 media-type) into v without
// allocating. Quoted parameter values keep their backslash escapes (they
// are compared unescaped by paramEqual).
func parseContentType(b []byte, v *ctView) error {
	*v = ctView{}
	i := skipOWS(b, 0)
	j := token(b, i)
	if j == i || j >= len(b) || b[j] != '/' {
		return errBadMediaType
	}
	v.typ = b[i:j]
	k := token(b, j+1)
	if k == j+1 {
		return errBadMediaType
	}
	v.sub = b[j+1 : k]
	i = skipOWS(b, k)
	for i < len(b) {
		if b[i] != ';' {
			return errBadMediaType
		}
		i = skipOWS(b, i+1)
		if i == len(b) {
			break // a trailing ';' is tolerated
		}
		n := token(b, i)
		if n == i || n >= len(b) || b[n] != '=' {
			return errBadMediaType
		}
		name := b[i:n]
		i = n + 1
		var val []byte
		quoted := false
		if i < len(b) && b[i] == '"' {
			quoted = true
			s := i + 1
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(b) {
				return errBadMediaType
			}
			val = b[s:i]
			i++
		} else {
			e := token(b, i)
			if e == i {
				return errBadMediaType
			}
			val = b[i:e]
			i = e
		}
		if v.n == maxParams {
			return errBadMediaType
		}
		v.names[v.n], v.values[v.n], v.quoted[v.n] = name, val, quoted
		v.n++
		i = skipOWS(b, i)
	}
	return nil
}

// parseAllowed parses one allowed_content_types entry.
func parseAllowed(s string) (allowedType, error) {
	var v ctView
	b := []byte(s)
	if strings.TrimSpace(s) == "*" {
		b = []byte("*/*")
	}
	if err := parseContentType(b, &v); err != nil {
		return allowedType{}, err
	}
	a := allowedType{raw: s}
	a.typ = strings.ToLower(string(v.typ))
	a.sub = strings.ToLower(string(v.sub))
	if a.typ == "*" && a.sub != "*" {
		return allowedType{}, errors.New("*/subtype is not a valid media range")
	}
	// Like Kong, only whole-part wildcards: a partial one (application/*+json)
	// would otherwise be a literal subtype that never matches.
	if a.typ != "*" && strings.Contains(a.typ, "*") || a.sub != "*" && strings.Contains(a.sub, "*") {
		return allowedType{}, errors.New("a wildcard must be a whole type or subtype: use type/subtype (application/vnd.api+json), type/* or */*; suffix patterns such as application/*+json are not supported")
	}
	for k := 0; k < v.n; k++ {
		name := strings.ToLower(string(v.names[k]))
		val := string(unquote(v.values[k], v.quoted[k]))
		if name == "charset" {
			val = strings.ToLower(val)
		}
		for _, p := range a.params {
			if p.name == name {
				return allowedType{}, errors.New("duplicate parameter " + name)
			}
		}
		a.params = append(a.params, param2{name, val})
	}
	return a, nil
}

func unquote(v []byte, quoted bool) []byte {
	if !quoted || bytes.IndexByte(v, '\\') < 0 {
		return v
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		out = append(out, v[i])
	}
	return out
}

// paramEqual compares a request parameter value (maybe quoted, with
// escapes) with a configured value, case-insensitively for charset.
func paramEqual(v []byte, quoted bool, want string, fold bool) bool {
	j := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if quoted && c == '\\' && i+1 < len(v) {
			i++
			c = v[i]
		}
		if j >= len(want) {
			return false
		}
		w := want[j]
		if fold {
			c = lower(c)
		}
		if c != w {
			return false
		}
		j++
	}
	return j == len(want)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// matches reports whether the request media type v is allowed by a.
// Type and subtype compare case-insensitively, `*` matches anything. When
// checkParams is set and a lists parameters, the request must carry exactly
// those parameters (names case-insensitive) with equal values (charset
// case-insensitive, others exactly); an entry without parameters accepts
// any.
func (a *allowedType) matches(v *ctView, checkParams bool) bool {
	if a.typ != "*" && !equalFold(v.typ, a.typ) {
		return false
	}
	if a.sub != "*" && !equalFold(v.sub, a.sub) {
		return false
	}
	if !checkParams || len(a.params) == 0 {
		return true
	}
	if v.n != len(a.params) {
		return false
	}
	for k := 0; k < v.n; k++ {
		found := false
		for _, p := range a.params {
			if equalFold(v.names[k], p.name) {
				if !paramEqual(v.values[k], v.quoted[k], p.value, p.name == "charset") {
					return false
				}
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// isJSON reports whether the media type is application/json or */*+json.
func isJSON(v *ctView) bool {
	if equalFold(v.typ, "application") && equalFold(v.sub, "json") {
		return true
	}
	s := v.sub
	return len(s) > 5 && equalFold(s[len(s)-5:], "+json")
}
