package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// checkFraming applies the request-smuggling rules of RFC 9112 that
// fasthttp's parser leaves to the application, on the raw header block as
// received. It returns a short reason, or "" when the request is fine.
// Rejected requests get 400 and the connection is closed, so nothing after
// an ambiguous message is ever read as a new request.
//
//   - every header line ends in CRLF (no bare CR or LF), no obs-fold;
//   - header names are tokens, with no whitespace before the colon;
//   - header values have no control characters other than HTAB;
//   - Content-Length and Transfer-Encoding never appear together, and
//     Content-Length at most once with one plain decimal value;
//   - Transfer-Encoding, if present, is exactly "chunked" (HTTP/1.1 only).
//
// Hand-written: it runs on every request and must not allocate. As it
// reads every header name anyway, it also returns which of the headers the
// gateway strips (hop-by-hop, gateway-only) are present, so the common
// request without any of them costs no header deletions.
func checkFraming(h *fasthttp.RequestHeader) string {
	r, _ := scanHeaders(h)
	return r
}

// Bits of the header mask scanHeaders returns.
const (
	hasConnection    uint32 = 1 << iota
	hasHopByHop             // Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Proxy-Authorization, Proxy-Authenticate, HTTP2-Settings
	hasGatewayOnly          // X-Bot-Score, X-Client-Cert-Subject, X-Gateway-Identity
	hasForwarded            // X-Forwarded-For, -Proto, -Host, X-Real-IP, X-Request-ID: the gateway writes its own
	hasCookie               // forwarded as sent: see appendRawCookies
	hasForwardedMore        // Forwarded, X-Forwarded-Port, -Prefix, -Path: kept from trusted proxies only
	hasUnderscore           // a name with '_': see dropUnderscoreHeaders
)

func headerBit(name []byte) uint32 {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return hasHopByHop
		}
	case 6:
		if equalFold(name, "cookie") {
			return hasCookie
		}
	case 7:
		if equalFold(name, "trailer") || equalFold(name, "upgrade") {
			return hasHopByHop
		}
	case 9:
		if equalFold(name, "x-real-ip") {
			return hasForwarded
		}
		if equalFold(name, "forwarded") {
			return hasForwardedMore
		}
	case 10:
		if equalFold(name, "connection") {
			return hasConnection
		}
		if equalFold(name, "keep-alive") {
			return hasHopByHop
		}
	case 11:
		if equalFold(name, "x-bot-score") {
			return hasGatewayOnly
		}
	case 12:
		if equalFold(name, "x-request-id") {
			return hasForwarded
		}
	case 13:
		if equalFold(name, "x-rewrite-url") {
			return hasGatewayOnly
		}
	case 14:
		if equalFold(name, "http2-settings") {
			return hasHopByHop
		}
		if equalFold(name, "x-original-url") {
			return hasGatewayOnly
		}
	case 15:
		if equalFold(name, "x-forwarded-for") {
			return hasForwarded
		}
	case 16:
		if equalFold(name, "proxy-connection") {
			return hasHopByHop
		}
		if equalFold(name, "x-forwarded-host") {
			return hasForwarded
		}
		if equalFold(name, "x-forwarded-port") || equalFold(name, "x-forwarded-path") {
			return hasForwardedMore
		}
	case 17:
		if equalFold(name, "x-forwarded-proto") {
			return hasForwarded
		}
	case 18:
		if equalFold(name, "proxy-authenticate") {
			return hasHopByHop
		}
		if equalFold(name, "x-gateway-identity") {
			return hasGatewayOnly
		}
		if equalFold(name, "x-forwarded-prefix") {
			return hasForwardedMore
		}
	case 19:
		if equalFold(name, "proxy-authorization") {
			return hasHopByHop
		}
	case 21:
		if equalFold(name, "x-client-cert-subject") {
			return hasGatewayOnly
		}
	}
	return 0
}

// scanHeaders is checkFraming plus the header mask. One pass per line: the
// name is scanned as tokens up to the colon (no separate search for it),
// the end of the line is found with IndexByte, and only Content-Length and
// Transfer-Encoding values are looked at.
func scanHeaders(h *fasthttp.RequestHeader) (string, uint32) {
	raw := h.RawHeaders()
	var cl, te int
	var mask uint32
	for len(raw) > 0 {
		// A name: tokens; '_' stops the fast loop (nameTable lacks it),
		// so that noting it costs the common name nothing.
		n := 0
		for {
			for n < len(raw) && nameTable[raw[n]] {
				n++
			}
			if n < len(raw) && raw[n] == '_' {
				mask |= hasUnderscore
				n++
				continue
			}
			break
		}
		if n == len(raw) {
			return "header line without CRLF", 0
		}
		if c := raw[n]; c != ':' || n == 0 {
			switch {
			case n == 0 && c == '\r' && len(raw) > 1 && raw[1] == '\n':
				raw = raw[2:] // the empty line ending the block
				continue
			case n == 0 && (c == ' ' || c == '\t'):
				return "obs-fold header continuation", 0
			case c == '\n':
				return "bare LF in header", 0
			case n == 0 && c == ':', c == '\r':
				return "header line without name", 0
			}
			return "invalid header name", 0
		}
		name := raw[:n]
		i := bytes.IndexByte(raw[n+1:], '\n')
		if i < 0 {
			return "header line without CRLF", 0
		}
		end := n + 1 + i
		if raw[end-1] != '\r' {
			return "bare LF in header", 0
		}
		value := raw[n+1 : end-1]
		raw = raw[end+1:]
		// Control characters in values are refused by fasthttp's own scanner
		// (validHeaderValueByte) before we get here; TestSmuggling checks it.
		mask |= headerBit(name)
		switch len(name) {
		case len("content-length"):
			if equalFold(name, "content-length") {
				cl++
				v := trimOWS(value)
				if len(v) == 0 || len(v) > 18 {
					return "invalid Content-Length", 0
				}
				for _, c := range v {
					if c < '0' || c > '9' {
						return "invalid Content-Length", 0
					}
				}
			}
		case len("transfer-encoding"):
			if equalFold(name, "transfer-encoding") {
				te++
				if !equalFold(trimOWS(value), "chunked") {
					return "unsupported Transfer-Encoding", 0
				}
			}
		}
	}
	if cl > 1 {
		return "duplicate Content-Length", 0
	}
	if te > 1 {
		return "duplicate Transfer-Encoding", 0
	}
	if cl > 0 && te > 0 {
		return "both Content-Length and Transfer-Encoding", 0
	}
	if te > 0 && !h.IsHTTP11() {
		return "Transfer-Encoding in HTTP/1.0", 0
	}
	return "", mask
}

// tokenTable holds the tchars of RFC 9110 §5.6.2.
var tokenTable = alnumTable("!#$%&'*+-.^_`|~")

// nameTable is tokenTable without '_', for header names in scanHeaders.
var nameTable = func() [256]bool {
	t := tokenTable
	t['_'] = false
	return t
}()

// alnumTable is a byte table of letters, digits and the bytes of extra.
func alnumTable(extra string) (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range extra {
		t[c] = true
	}
	return t
}

func isTokenChar(c byte) bool { return tokenTable[c] }

// appendRawCookies appends a "Cookie: value" line for each Cookie line of
// raw, a header block scanHeaders accepted, with the value as the client
// sent it (less surrounding whitespace).
func appendRawCookies(dst, raw []byte) []byte {
	for len(raw) > 0 {
		end := bytes.IndexByte(raw, '\n')
		if end < 0 {
			break
		}
		line := raw[:end]
		raw = raw[end+1:]
		name, value, ok := bytes.Cut(line, colon)
		if ok && equalFold(name, "cookie") {
			dst = append(dst, "Cookie: "...)
			dst = append(dst, trimOWS(bytes.TrimSuffix(value, cr))...)
			dst = append(dst, "\r\n"...)
		}
	}
	return dst
}

var (
	colon = []byte(":")
	cr    = []byte("\r")
)

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold reports whether a and b are equal ignoring ASCII case. It is
// ASCII-only on purpose: strings.EqualFold's Unicode folding would take
// "chun\u212Aed" (Kelvin sign) for "chunked", which is no place for leniency.
func equalFold[T string | []byte](a []byte, b T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// checkRequestLine accepts HTTP/1.0 and HTTP/1.1 (else 505) and the methods
// of RFC 9110, PATCH and WebDAV's (else 501), so that requests other
// parsers would read differently (RTSP, ICE, made-up methods) never pass.
func checkRequestLine(h *fasthttp.RequestHeader) (int, string) {
	p := h.Protocol()
	if string(p) != "HTTP/1.1" && string(p) != "HTTP/1.0" {
		return fasthttp.StatusHTTPVersionNotSupported, "HTTP version not supported"
	}
	switch string(h.Method()) {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
		"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH":
		return 0, ""
	case "CONNECT", "TRACE":
		return fasthttp.StatusMethodNotAllowed, "Method not allowed"
	}
	return fasthttp.StatusNotImplemented, "Method not implemented"
}

// checkHost validates the request's host and resolves absolute-form: a
// request target such as "http://b/x" carries the authority, which takes
// the place of the Host header (RFC 9112 §3.2.2), so routing, the Host sent
// upstream and X-Forwarded-Host all use it. It returns a reason, or "".
func checkHost(h *fasthttp.RequestHeader) string {
	uri := h.RequestURI()
	if len(uri) > 0 && uri[0] != '/' && uri[0] != '*' {
		i := bytes.Index(uri, []byte("://"))
		if i < 0 || !(equalFold(uri[:i], "http") || equalFold(uri[:i], "https")) {
			return "invalid request target"
		}
		auth := uri[i+3:]
		if j := bytes.IndexAny(auth, "/?#"); j >= 0 {
			auth = auth[:j]
		}
		if !validHost(auth) {
			return "invalid host in the request target"
		}
		if !bytes.Equal(h.Host(), auth) {
			h.SetHostBytes(auth)
		}
		return ""
	}
	// An empty Host is refused by fasthttp where HTTP/1.1 requires one; an
	// HTTP/1.0 request may come without.
	if host := h.Host(); len(host) > 0 && !validHost(host) {
		return "invalid Host header"
	}
	return ""
}

// validHost reports whether b is uri-host [":" port] (RFC 3986 §3.2.2) as
// a client may address a server: a name of letters, digits, "-", ".", "_"
// and "~" (percent-encoding and sub-delims are legal in a reg-name but no
// DNS name, and userinfo has no place in Host), an IPv4 address, or an IP
// literal in brackets; the port is up to five digits.
func validHost(b []byte) bool {
	i := 0
	if len(b) > 0 && b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 2 {
			return false
		}
		for _, c := range b[1:end] {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
				return false
			}
		}
		i = end + 1
	} else {
		// A DNS name: no empty label ("a..b", ".a": a router would read
		// it as another name), at most 253 bytes and a final dot.
		prev := byte('.')
		for i < len(b) && hostTable[b[i]] {
			if b[i] == '.' && prev == '.' {
				return false
			}
			prev = b[i]
			i++
		}
		n := i
		if prev == '.' {
			n-- // a final dot
		}
		if i == 0 || n > 253 {
			return false
		}
	}
	if i == len(b) {
		return true
	}
	port := b[i+1:]
	if b[i] != ':' || len(port) > 5 {
		return false
	}
	p := 0
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
		p = p*10 + int(c-'0')
	}
	return p <= 65535
}

// hostTable holds the bytes of a host name (RFC 3986 unreserved).
var hostTable = alnumTable("-._~")
