// Package template compiles value templates such as `$(jwt.sub)` or
// `Bearer $(jwt.email) from $(client_ip)` once, at config load, and renders
// them per request without allocating.
//
// # Syntax
//
// A template is literal text with variables written `$(name)`. Spaces inside
// the parentheses are ignored. `$$(` writes a literal `$(`; any other `$` is
// literal, so values without `$(` pass through unchanged (as in Kong).
//
// # Variables
//
//	jwt.<claim>        a verified token claim; nested claims with dots
//	                   (jwt.realm_access.roles), arrays joined with commas
//	consumer.username  the authenticated consumer (consumer.id,
//	consumer.id        consumer.custom_id, consumer.tier likewise)
//	consumer.custom_id
//	consumer.tier
//	client_ip          the resolved client address (trusted proxies applied)
//	request_id         the X-Request-ID of the request
//	route.name         the matched route
//	service.name       the route's service
//	header.<name>      a request header (first value)
//	query.<name>       a query-string argument (first value)
//	cookie.<name>      a request cookie
//
// Kong's Lua forms headers.x_name, headers["X-Name"], query_params.name and
// query_params["name"] are accepted as aliases of header.<name> and
// query.<name>, so pasted Kong configs keep working.
//
// Users of the package may add variables of their own with Var (the access
// log adds response fields, for example). An unknown variable or bad syntax is
// a compile error naming the template, the column and the known variables.
//
// # Rendering
//
// AppendRender appends the rendered value to dst and reports whether every
// variable had a value. A variable whose value is absent or empty renders as
// nothing and makes the result "incomplete" (ok == false): the caller decides
// whether an incomplete value is used (an access-log field) or dropped (an
// identity header). Rendering does not allocate beyond growing dst.
//
// AppendChecked renders for values that leave the gateway as identity: it
// tells a missing value from an unsafe one (ValidValue, claims that cannot
// be written unambiguously) and can percent-encode each value as one URI
// path segment.
//
// A Template is immutable after Compile and safe for concurrent use.
package template

import (
	"fmt"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
	"strings"
	"unicode/utf8"

	"github.com/edgeguard/edgeguard/filters"
)

// kind is what a part of a template renders.
type kind uint8

const (
	kLiteral kind = iota
	kClaim
	kConsumerUsername
	kConsumerID
	kConsumerCustomID
	kConsumerTier
	kClientIP
	kRequestID
	kRouteName
	kServiceName
	kHeader
	kQuery
	kCookie
	kExtra
)

// Var is a variable added by a user of the package. Name is the full
// variable name ("response.status"), or a prefix ending in "." for a family of
// variables ("response.header.") whose rest is passed to Append as arg.
// Append appends the value to dst and reports whether it exists; it must not
// allocate beyond growing dst and must be safe for concurrent use.
type Var struct {
	Name   string
	Append func(dst []byte, c *filters.Ctx, arg string) ([]byte, bool)
}

type part struct {
	kind  kind
	lit   []byte // kLiteral: the text
	arg   string // claim path, header/query/cookie name, or Var argument
	extra *Var   // kExtra
}

// Template is a compiled template. The zero value renders as the empty
// string with ok == true.
type Template struct {
	src   string
	parts []part
	vars  []string
}

// builtin lists the variables without an argument.
var builtin = map[string]kind{
	"consumer.username":  kConsumerUsername,
	"consumer.id":        kConsumerID,
	"consumer.custom_id": kConsumerCustomID,
	"consumer.tier":      kConsumerTier,
	"client_ip":          kClientIP,
	"request_id":         kRequestID,
	"route.name":         kRouteName,
	"service.name":       kServiceName,
}

// prefixed lists the variable families that take an argument after the dot.
var prefixed = []struct {
	prefix string
	kind   kind
}{
	{"jwt.", kClaim},
	{"header.", kHeader},
	{"query.", kQuery},
	{"cookie.", kCookie},
}

// KnownVariables is the list of built-in variables, for error messages and
// documentation.
const KnownVariables = "jwt.<claim>, consumer.username, consumer.id, consumer.custom_id, consumer.tier, " +
	"client_ip, request_id, route.name, service.name, header.<name>, query.<name>, cookie.<name>"

// Error is a compile error.
type Error struct {
	Template string // the source text
	Col      int    // 1-based byte column of the problem
	Msg      string
}

func (e *Error) Error() string {
	return fmt.Sprintf("template %q: column %d: %s", e.Template, e.Col, e.Msg)
}

// MustCompile is Compile that panics on error; for tests and constants.
func MustCompile(src string, extra ...Var) *Template {
	t, err := Compile(src, extra...)
	if err != nil {
		panic(err)
	}
	return t
}

// Compile parses src. extra adds variables to the built-in ones (an extra
// variable with the name of a built-in one shadows it).
func Compile(src string, extra ...Var) (*Template, error) {
	t := &Template{src: src}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			t.parts = append(t.parts, part{kind: kLiteral, lit: lit})
			lit = nil
		}
	}
	errAt := func(i int, format string, args ...any) error {
		return &Error{Template: src, Col: i + 1, Msg: fmt.Sprintf(format, args...)}
	}
	for i := 0; i < len(src); {
		c := src[i]
		if c != '$' {
			lit = append(lit, c)
			i++
			continue
		}
		if strings.HasPrefix(src[i:], "$$(") {
			lit = append(lit, '$', '(')
			i += 3
			continue
		}
		if i+1 >= len(src) || src[i+1] != '(' {
			lit = append(lit, c)
			i++
			continue
		}
		end := strings.IndexByte(src[i+2:], ')')
		if end < 0 {
			return nil, errAt(i, "unclosed \"$(\": missing \")\"")
		}
		inner := src[i+2 : i+2+end]
		if j := strings.IndexAny(inner, "($"); j >= 0 {
			return nil, errAt(i+2+j, "unexpected %q inside \"$(...)\"", inner[j])
		}
		name := strings.TrimSpace(inner)
		p, err := lookup(name, extra)
		if err != "" {
			return nil, errAt(i, "%s", err)
		}
		flush()
		t.parts = append(t.parts, p)
		t.vars = append(t.vars, name)
		i += 2 + end + 1
	}
	flush()
	return t, nil
}

// lookup resolves a variable name; it returns a message on error.
func lookup(name string, extra []Var) (part, string) {
	if name == "" {
		return part{}, "empty variable \"$()\"; known: " + KnownVariables
	}
	for i := range extra {
		v := &extra[i]
		if strings.HasSuffix(v.Name, ".") {
			if arg, ok := strings.CutPrefix(name, v.Name); ok && arg != "" {
				return part{kind: kExtra, arg: arg, extra: v}, ""
			}
		} else if name == v.Name {
			return part{kind: kExtra, extra: v}, ""
		}
	}
	if k, ok := builtin[name]; ok {
		return part{kind: k}, ""
	}
	if p, ok := kongAlias(name); ok {
		return p, ""
	}
	for _, pf := range prefixed {
		arg, ok := strings.CutPrefix(name, pf.prefix)
		if !ok {
			continue
		}
		if msg := checkArg(pf.kind, arg); msg != "" {
			return part{}, fmt.Sprintf("variable %q: %s", name, msg)
		}
		if pf.kind == kHeader {
			arg = canonicalHeader(arg)
		}
		return part{kind: pf.kind, arg: arg}, ""
	}
	msg := fmt.Sprintf("unknown variable %q", name)
	if s := suggest(name, extra); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	msg += "; known: " + KnownVariables
	for _, v := range extra {
		if strings.HasSuffix(v.Name, ".") {
			msg += ", " + v.Name + "<name>"
		} else {
			msg += ", " + v.Name
		}
	}
	return part{}, msg
}

// kongAlias accepts Kong's Lua template forms for headers and query
// arguments, so pasted Kong configs keep working: headers.x_user (underscores
// read as dashes, as Kong's headers table does), headers["X-User"],
// headers['X-User'], query_params.page, query_params["page"].
func kongAlias(name string) (part, bool) {
	for _, a := range []struct {
		prefix string
		kind   kind
	}{{"headers", kHeader}, {"query_params", kQuery}} {
		rest, ok := strings.CutPrefix(name, a.prefix)
		if !ok {
			continue
		}
		var arg string
		switch {
		case strings.HasPrefix(rest, "."):
			arg = rest[1:]
			if a.kind == kHeader {
				arg = strings.ReplaceAll(arg, "_", "-")
			}
		case len(rest) >= 4 && rest[0] == '[' && rest[len(rest)-1] == ']' &&
			(rest[1] == '"' || rest[1] == '\'') && rest[len(rest)-2] == rest[1]:
			arg = rest[2 : len(rest)-2]
		default:
			return part{}, false
		}
		if checkArg(a.kind, arg) != "" {
			return part{}, false
		}
		if a.kind == kHeader {
			arg = canonicalHeader(arg)
		}
		return part{kind: a.kind, arg: arg}, true
	}
	return part{}, false
}

// checkArg validates the argument of a prefixed variable.
func checkArg(k kind, arg string) string {
	if arg == "" {
		return "missing name after the dot"
	}
	switch k {
	case kClaim:
		if !utf8.ValidString(arg) {
			return "claim path is not valid UTF-8"
		}
		for _, seg := range strings.Split(arg, ".") {
			if seg == "" {
				return "empty segment in claim path"
			}
		}
		for i := 0; i < len(arg); i++ {
			if c := arg[i]; c <= ' ' || c == 0x7f || c == '"' || c == '\\' {
				return fmt.Sprintf("claim path contains %q", c)
			}
		}
	case kHeader:
		for i := 0; i < len(arg); i++ {
			if !isTokenChar(arg[i]) {
				return fmt.Sprintf("header name contains %q", arg[i])
			}
		}
		if strings.EqualFold(arg, "cookie") {
			return "use cookie.<name> to read a cookie"
		}
	case kQuery, kCookie:
		for i := 0; i < len(arg); i++ {
			if c := arg[i]; c <= ' ' || c == 0x7f {
				return fmt.Sprintf("name contains %q", c)
			}
		}
	}
	return ""
}

// isTokenChar reports whether c may appear in an HTTP field name (RFC 9110 tchar).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// IsHeaderName reports whether s is a valid HTTP field name.
func IsHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// canonicalHeader returns the canonical form (X-User-Id) of a header name.
func canonicalHeader(s string) string {
	b := []byte(s)
	upper := true
	for i, c := range b {
		switch {
		case upper && c >= 'a' && c <= 'z':
			b[i] = c - 32
		case !upper && c >= 'A' && c <= 'Z':
			b[i] = c + 32
		}
		upper = c == '-'
	}
	return string(b)
}

func suggest(name string, extra []Var) string {
	cands := []string{"jwt.sub", "client_ip", "request_id", "route.name", "service.name",
		"consumer.username", "consumer.id", "consumer.custom_id", "consumer.tier"}
	for _, v := range extra {
		cands = append(cands, v.Name)
	}
	best, bestD := "", 4
	for _, c := range cands {
		if d := confnode.EditDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	// "jwt" alone, "consumer" alone, "header" alone...
	if best == "" {
		for _, pf := range prefixed {
			if name+"." == pf.prefix {
				if pf.kind == kClaim {
					return "jwt.<claim>"
				}
				return pf.prefix + "<name>"
			}
		}
	}
	return best
}

// String returns the source text of t.
func (t *Template) String() string { return t.src }

// Vars returns the names of the variables t uses, in order of appearance
// (duplicates kept). The slice must not be modified.
func (t *Template) Vars() []string { return t.vars }

// HasVars reports whether t uses any variable.
func (t *Template) HasVars() bool { return len(t.vars) > 0 }

// Literal returns the rendered value of a template without variables.
func (t *Template) Literal() ([]byte, bool) {
	if len(t.vars) > 0 {
		return nil, false
	}
	var b []byte
	for _, p := range t.parts {
		b = append(b, p.lit...)
	}
	return b, true
}

// AppendRender appends the value of t for the request c to dst. ok is false
// when a variable was absent or empty (it then renders as nothing). c.RC may
// be nil when t reads nothing from the request. The returned bytes alias dst.
func (t *Template) AppendRender(dst []byte, c *filters.Ctx) (_ []byte, ok bool) {
	ok = true
	for i := range t.parts {
		p := &t.parts[i]
		if p.kind == kLiteral {
			dst = append(dst, p.lit...)
			continue
		}
		n := len(dst)
		var found bool
		dst, found = appendVar(dst, p, c)
		if !found || len(dst) == n {
			dst = dst[:n]
			ok = false
		}
	}
	return dst, ok
}

func appendVar(dst []byte, p *part, c *filters.Ctx) ([]byte, bool) {
	switch p.kind {
	case kClaim:
		if c.Claims == nil {
			return dst, false
		}
		return c.Claims.AppendClaim(dst, p.arg)
	case kConsumerUsername, kConsumerID, kConsumerCustomID, kConsumerTier:
		co := c.Consumer
		if co == nil {
			return dst, false
		}
		switch p.kind {
		case kConsumerUsername:
			return append(dst, co.Username...), true
		case kConsumerID:
			return append(dst, co.ID...), true
		case kConsumerCustomID:
			return append(dst, co.CustomID...), true
		default:
			return append(dst, co.Tier...), true
		}
	case kClientIP:
		if !c.ClientIP.IsValid() {
			return dst, false
		}
		return c.ClientIP.AppendTo(dst), true
	case kRequestID:
		return append(dst, c.RequestID...), true
	case kRouteName:
		return append(dst, c.Route...), true
	case kServiceName:
		return append(dst, c.Service...), true
	case kHeader:
		if c.RC == nil {
			return dst, false
		}
		return append(dst, c.RC.Request.Header.Peek(p.arg)...), true
	case kQuery:
		if c.RC == nil {
			return dst, false
		}
		return append(dst, c.URI().QueryArgs().Peek(p.arg)...), true
	case kCookie:
		if c.RC == nil {
			return dst, false
		}
		return append(dst, c.RC.Request.Header.Cookie(p.arg)...), true
	case kExtra:
		return p.extra.Append(dst, c, p.arg)
	}
	return dst, false
}

// ReadsRedacted tells whether the template variable v (as written inside
// $( ), e.g. "header.authorization") reads a cookie or one of the headers
// isRedacted reports, and if so returns a description ("a cookie",
// "header authorization") for a config error; "" otherwise. Loggers use it
// to refuse custom fields that would copy a secret into a log.
func ReadsRedacted(v string, isRedacted func(lowerName string) bool) string {
	lv := strings.ToLower(v)
	if strings.HasPrefix(lv, "cookie.") {
		return "a cookie"
	}
	var name string
	switch {
	case strings.HasPrefix(lv, "header."):
		name = lv[len("header."):]
	case strings.HasPrefix(lv, "headers."):
		name = strings.ReplaceAll(lv[len("headers."):], "_", "-")
	case strings.HasPrefix(lv, "headers["):
		name = strings.Trim(lv[len("headers"):], `[]"'`)
	default:
		return ""
	}
	if isRedacted(name) {
		return "header " + name
	}
	return ""
}
