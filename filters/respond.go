package filters

import (
	"unicode/utf8"
	"unsafe"
)

// Reject ends the request with status and Kong's body
// `{"message":"<msg>","request_id":"<id>"}`, records the running filter as
// the one that rejected it with reason, and returns Respond.
func (c *Ctx) Reject(status int, reason, msg string) Verdict {
	c.RejectedBy = c.CurName
	c.RejectReason = reason
	b := c.Scratch[:0]
	b = append(b, `{"message":`...)
	b = AppendJSONString(b, msg)
	if len(c.RequestID) > 0 {
		b = append(b, `,"request_id":`...)
		// A string view, not a copy: AppendJSONString only reads it.
		b = AppendJSONString(b, unsafe.String(unsafe.SliceData(c.RequestID), len(c.RequestID)))
	}
	b = append(b, '}')
	c.Scratch = b
	c.RespondJSON(status, b)
	return Respond
}

// RespondJSON writes a complete JSON response with status and body. The body
// is copied.
func (c *Ctx) RespondJSON(status int, body []byte) {
	r := &c.RC.Response
	r.SetStatusCode(status)
	r.Header.SetContentTypeBytes(jsonContentType)
	r.SetBody(body)
}

var jsonContentType = []byte("application/json; charset=utf-8")

// RejectBody ends the request with status and a prepared JSON body (as the
// jwt and request-validator plugins do: no request_id).
func (c *Ctx) RejectBody(status int, reason string, body []byte) Verdict {
	c.RejectedBy = c.CurName
	c.RejectReason = reason
	c.RespondJSON(status, body)
	return Respond
}

// SetHeader is a convenience for setting a response header on rejection.
func (c *Ctx) SetHeader(k, v string) { c.RC.Response.Header.Set(k, v) }

// AppendJSONString appends s as a quoted JSON string, escaping what JSON
// requires and replacing invalid UTF-8 with U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
			i++
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			continue
		}
		dst = append(dst, s[i:i+size]...)
		i += size
	}
	return append(dst, '"')
}
