package httplog

import (
	"encoding/json"
	"testing"
)

// FuzzEncode feeds arbitrary header blocks and query strings to the entry
// encoder: the output must be valid JSON and never contain a redacted value.
func FuzzEncode(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer SECRETVALUE\r\n\r\n", "a=1&b&a=2&c=%41+b")
	f.Add("HTTP/1.1 200 OK\r\nSet-Cookie: SECRETVALUE\r\nX: \xff\r\n", "%zz=%&&=&")
	f.Add("\n:\n::\nx\ncookie:SECRETVALUE", "")
	f.Add("", "a=\x00\"<>")
	lay := &layout{redact: defaultRedact}
	f.Fuzz(func(t *testing.T, hdr, query string) {
		e := &entry{lay: lay}
		e.buf = append(e.buf[:0], "id"...)
		e.id = span{0, 2}
		e.query = e.add([]byte(query))
		e.reqHdr = []byte(hdr)
		e.respHdr = []byte(hdr)
		var enc encoder
		out := enc.appendEntry(nil, e)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON for %q %q: %s", hdr, query, out)
		}
		var m struct {
			Request, Response struct {
				Headers map[string]any `json:"headers"`
			}
		}
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		for _, h := range []map[string]any{m.Request.Headers, m.Response.Headers} {
			for _, r := range defaultRedact {
				if v, ok := h[string(r)]; ok && v != "REDACTED" {
					t.Fatalf("%s not redacted: %s", r, out)
				}
			}
		}
	})
}
