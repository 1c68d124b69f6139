package template

import (
	"unicode/utf8"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/jwt/jose"
)

// Status is the outcome of AppendChecked.
type Status uint8

const (
	// OK: every variable had a value and every value was accepted.
	OK Status = iota
	// Missing: a variable was absent, empty, or only spaces and tabs.
	Missing
	// Invalid: a value was refused (see AppendChecked).
	Invalid
)

// Escape says how AppendChecked writes the values of variables (literal text
// is always written as it is).
type Escape uint8

const (
	// Raw writes values as they are: a header field value, or a query
	// argument that the caller encodes.
	Raw Escape = iota
	// PathSegment writes each value as exactly one URI path segment: every
	// byte outside RFC 3986 unreserved (A-Z a-z 0-9 - . _ ~) is
	// percent-encoded with upper-case hex, "/", "?", "#", "%", space and
	// non-ASCII included, and a value "." or ".." is Invalid.
	PathSegment
)

// TypedClaims is implemented by filters.Claims that can return a claim's
// raw JSON value and its type (the value at a dotted path as AppendClaim
// finds it; Invalid or Null when absent). AppendChecked uses it to tell the
// array ["a,b","c"] from ["a","b","c"], which AppendClaim renders alike.
type TypedClaims interface {
	ClaimJSON(path string) ([]byte, jose.Kind)
}

// AppendChecked is AppendRender for values that leave the gateway as
// identity (request-transformer's headers, query arguments and path). It
// appends the value of t for c to dst, writing each variable's value as esc
// says, and reports:
//
//   - Missing when a variable is absent, empty or only spaces and tabs;
//   - Invalid when a value is not ValidValue text, or (PathSegment) is "."
//     or "..", or is a claim that cannot be written unambiguously: an
//     object, an array holding an object or an array, or an array with a
//     string element that contains a comma (with TypedClaims; otherwise
//     the claim is read with AppendClaim, arrays comma-joined).
//
// Strings, numbers and booleans are written as text, and arrays of them
// joined with commas (null elements skipped). On Missing or Invalid the
// contents of the returned bytes are unspecified. It does not allocate
// beyond growing dst.
func (t *Template) AppendChecked(dst []byte, c *filters.Ctx, esc Escape) ([]byte, Status) {
	for i := range t.parts {
		p := &t.parts[i]
		if p.kind == kLiteral {
			dst = append(dst, p.lit...)
			continue
		}
		n := len(dst)
		st := OK
		if p.kind == kClaim {
			dst, st = appendClaimChecked(dst, c, p.arg)
		} else {
			var found bool
			if dst, found = appendVar(dst, p, c); !found {
				st = Missing
			}
		}
		if st != OK {
			return dst, st
		}
		v := dst[n:]
		if isBlank(v) {
			return dst, Missing
		}
		if !ValidValue(v) {
			return dst, Invalid
		}
		if esc == PathSegment {
			if string(v) == "." || string(v) == ".." {
				return dst, Invalid
			}
			dst = escapeSegment(dst, n)
		}
	}
	return dst, OK
}

// appendClaimChecked appends a claim's value for AppendChecked.
func appendClaimChecked(dst []byte, c *filters.Ctx, path string) ([]byte, Status) {
	if c.Claims == nil {
		return dst, Missing
	}
	tc, typed := c.Claims.(TypedClaims)
	if !typed {
		dst, found := c.Claims.AppendClaim(dst, path)
		if !found {
			return dst, Missing
		}
		return dst, OK
	}
	raw, k := tc.ClaimJSON(path)
	switch k {
	case jose.Invalid, jose.Null:
		return dst, Missing
	case jose.String, jose.Number, jose.True, jose.False:
		return jose.AppendText(dst, raw, k), OK
	case jose.Array:
		first := true
		var it jose.Elements
		for it.Reset(raw); it.Next(); {
			switch it.Kind {
			case jose.Null:
				continue
			case jose.Array, jose.Object:
				return dst, Invalid
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			n := len(dst)
			dst = jose.AppendText(dst, it.Value, it.Kind)
			for _, b := range dst[n:] {
				if b == ',' {
					return dst, Invalid
				}
			}
		}
		return dst, OK
	}
	return dst, Invalid // an object
}

func isBlank(v []byte) bool {
	for _, b := range v {
		if b != ' ' && b != '\t' {
			return false
		}
	}
	return true
}

// ValidValue reports whether v is text that may be forwarded as an identity
// value: valid UTF-8 without ASCII control characters (HTAB and DEL
// included), C1 controls (U+0080-U+009F, NEL among them), the line and
// paragraph separators U+2028 and U+2029, the bidirectional controls
// (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), or U+FFFD, which
// a decoder writes for what it could not decode (a lone surrogate "\ud800"
// in a token's claim), so that different inputs would collapse into one
// value.
func ValidValue(v []byte) bool {
	for i := 0; i < len(v); {
		b := v[i]
		if b < utf8.RuneSelf {
			if b < 0x20 || b == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(v[i:])
		switch {
		case r == utf8.RuneError, // invalid UTF-8, or U+FFFD itself
			r >= 0x80 && r <= 0x9f,
			r == 0x2028, r == 0x2029,
			r == 0x061c, r == 0x200e, r == 0x200f,
			r >= 0x202a && r <= 0x202e,
			r >= 0x2066 && r <= 0x2069:
			return false
		}
		i += size
	}
	return true
}

// escapeSegment percent-encodes dst[n:] in place as one path segment.
func escapeSegment(dst []byte, n int) []byte {
	extra := 0
	for _, b := range dst[n:] {
		if !unreserved[b] {
			extra += 2
		}
	}
	if extra == 0 {
		return dst
	}
	end := len(dst)
	dst = append(dst, make([]byte, extra)...)
	// Back to front, so that nothing is overwritten before it is read.
	const hex = "0123456789ABCDEF"
	w := len(dst)
	for r := end - 1; r >= n; r-- {
		b := dst[r]
		if unreserved[b] {
			w--
			dst[w] = b
			continue
		}
		w -= 3
		dst[w], dst[w+1], dst[w+2] = '%', hex[b>>4], hex[b&0xf]
	}
	return dst
}

// unreserved marks RFC 3986 unreserved characters.
var unreserved = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['.'], t['_'], t['~'] = true, true, true, true
	return t
}()
