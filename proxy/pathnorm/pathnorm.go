// Package pathnorm normalises request paths once, before routing and policy,
// so that a policy bound to /admin cannot be bypassed with //admin,
// /./admin, /v1/../admin, /%61dmin, /admin%2f.., backslashes, NUL or
// overlong UTF-8.
//
// What Normalize does, in order:
//
//  1. Rejects (ErrAmbiguous, answered with 400) any path whose meaning
//     differs between servers: an encoded '/' (%2F), '\' (raw or %5C), NUL and
//     other control characters (raw or encoded, %00-%1F and %7F), a '%' not
//     followed by two hex digits, and percent-encoded bytes that do not form
//     valid, shortest-form UTF-8 (overlong encodings such as %C0%AF).
//  2. Decodes percent-encoded unreserved characters (A-Z a-z 0-9 - . _ ~), so
//     /%61dmin is /admin; every other %XX is kept, with upper-case hex.
//  3. Collapses runs of '/' into one.
//  4. Removes '.' segments and resolves '..' segments (RFC 3986 5.2.4); '..'
//     above the root stays at the root.
//  5. Rejects (ErrAmbiguous) a segment that is empty, "." or ".." before a
//     ';' (";x", ".;x", "..;"): Java servers (Tomcat, Jetty, Spring) drop
//     path parameters from each segment before resolving dots, so they read
//     "/x/..;/admin" as "/admin" where every other server sees a segment
//     named "..;". Parameters on a named segment ("/items;v=2") are kept.
//
// The result is what routing and every policy see and what is forwarded
// upstream (the query string is forwarded unchanged). A trailing slash is
// kept. Normalize allocates nothing: it appends to dst.
package pathnorm

import (
	"errors"
	"unicode/utf8"
)

// ErrAmbiguous is returned for paths that are rejected rather than rewritten.
var ErrAmbiguous = errors.New("ambiguous or invalid path encoding")

// ErrNotOrigin is returned when the path does not start with '/'.
var ErrNotOrigin = errors.New("path must start with /")

// Normalize appends the normalised form of path (the part of the request
// target before '?', without a scheme or host) to dst and returns it.
// Hand-written rather than net/url + path.Clean: it runs on every request,
// must reject what those accept (encoded slashes, overlong UTF-8) and must not
// allocate.
func Normalize(dst, path []byte) ([]byte, error) {
	if len(path) == 0 || path[0] != '/' {
		return dst, ErrNotOrigin
	}
	if alreadyNormal(path) {
		return append(dst, path...), nil
	}
	return normalize(dst, path)
}

// normalize is the general path of Normalize: two passes, decoding and
// dot-segment removal.
func normalize(dst, path []byte) ([]byte, error) {
	start := len(dst)
	// Pass 1: validate and decode unreserved escapes into dst, collapsing
	// slashes as we go. UTF-8 validity of decoded bytes is checked over the
	// fully decoded form, tracked incrementally.
	var u8 utf8State
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '%':
			if i+2 >= len(path) {
				return dst[:start], ErrAmbiguous
			}
			h, ok1 := unhex(path[i+1])
			l, ok2 := unhex(path[i+2])
			if !ok1 || !ok2 {
				return dst[:start], ErrAmbiguous
			}
			b := h<<4 | l
			i += 2
			if b < 0x20 || b == 0x7f || b == '/' || b == '\\' {
				return dst[:start], ErrAmbiguous
			}
			if !u8.feed(b) {
				return dst[:start], ErrAmbiguous
			}
			if isUnreserved(b) {
				dst = append(dst, b)
			} else {
				dst = append(dst, '%', hexUpper[b>>4], hexUpper[b&0xf])
			}
		case c < 0x20 || c == 0x7f || c == '\\':
			return dst[:start], ErrAmbiguous
		case c == '/':
			if !u8.feed(c) {
				return dst[:start], ErrAmbiguous
			}
			if len(dst) > start && dst[len(dst)-1] == '/' {
				continue
			}
			dst = append(dst, '/')
		default:
			if !u8.feed(c) {
				return dst[:start], ErrAmbiguous
			}
			dst = append(dst, c)
		}
	}
	if !u8.done() {
		return dst[:start], ErrAmbiguous
	}
	// Pass 2: remove dot segments in place.
	out, ok := removeDots(dst[start:])
	if !ok {
		return dst[:start], ErrAmbiguous
	}
	return dst[:start+len(out)], nil
}

// paramDot reports whether seg is empty, "." or ".." before a ';' (see
// the package doc, step 5).
func paramDot(seg []byte) bool {
	for i, c := range seg {
		switch {
		case c == ';':
			return true
		case c != '.' || i == 2:
			return false
		}
	}
	return false
}

// removeDots resolves '.' and '..' segments of p (which starts with '/' and
// has no repeated slashes) in place and returns the result, or false for a
// segment paramDot refuses.
func removeDots(p []byte) ([]byte, bool) {
	w := 0 // write index; p[:w] is the output so far
	i := 0
	for i < len(p) {
		// p[i] == '/'; find the segment after it
		j := i + 1
		for j < len(p) && p[j] != '/' {
			j++
		}
		seg := p[i+1 : j]
		last := j == len(p)
		if paramDot(seg) {
			return nil, false
		}
		switch {
		case len(seg) == 1 && seg[0] == '.':
			if last {
				p[w] = '/'
				w++
			}
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			// drop the previous output segment and its slash
			for w > 0 && p[w-1] != '/' {
				w--
			}
			if w > 0 {
				w--
			}
			if last {
				p[w] = '/'
				w++
			}
		default:
			w += copy(p[w:], p[i:j])
		}
		i = j
	}
	if w == 0 {
		p[0] = '/'
		w = 1
	}
	return p[:w], true
}

const hexUpper = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// utf8State validates a byte stream as UTF-8 incrementally, rejecting
// overlong forms, surrogates and code points above U+10FFFF.
type utf8State struct {
	buf  [4]byte
	n    int // bytes buffered
	need int
}

func (s *utf8State) feed(b byte) bool {
	if s.need == 0 {
		switch {
		case b < 0x80:
			return true
		case b&0xE0 == 0xC0:
			s.need = 2
		case b&0xF0 == 0xE0:
			s.need = 3
		case b&0xF8 == 0xF0:
			s.need = 4
		default:
			return false
		}
		s.buf[0] = b
		s.n = 1
		return true
	}
	if b&0xC0 != 0x80 {
		return false
	}
	s.buf[s.n] = b
	s.n++
	if s.n < s.need {
		return true
	}
	r, size := utf8.DecodeRune(s.buf[:s.n])
	s.need, s.n = 0, 0
	return !(r == utf8.RuneError && size <= 1)
}

func (s *utf8State) done() bool { return s.need == 0 }

// plain marks printable ASCII bytes that normalisation leaves alone wherever
// they are: everything but '%', '\\', '/', '.' and ';' (and controls, DEL and
// non-ASCII, which are not marked).
var plain = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = c != '%' && c != '\\' && c != '/' && c != '.' && c != ';'
	}
	return t
}()

// alreadyNormal reports whether path (starting with '/') is its own
// normal form: plain bytes, single slashes, and dots that do not make a
// "." or ".." segment. Most request paths are; this one pass (hand-written
// for the request path: ~4x faster than the two general passes on
// "/v1/items", see BenchmarkNormalize) lets them skip decoding and dot
// removal.
func alreadyNormal(path []byte) bool {
	for i := 1; i < len(path); i++ {
		c := path[i]
		if plain[c] {
			continue
		}
		switch c {
		case '/':
			if path[i-1] == '/' {
				return false
			}
		case '.':
			if path[i-1] != '/' {
				continue // inside a segment: "a.json", "v1.2"
			}
			// A segment starting with '.': only "." and ".." are special
			// (and with parameters: paramDot).
			j := i + 1
			if j < len(path) && path[j] == '.' {
				j++
			}
			if j == len(path) || path[j] == '/' || path[j] == ';' {
				return false
			}
		case ';':
			if path[i-1] == '/' {
				return false // an empty segment with parameters: paramDot
			}
		default:
			return false
		}
	}
	return true
}
