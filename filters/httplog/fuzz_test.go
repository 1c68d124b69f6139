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
	f.Add("Authorization: a\r\nauthorization: b\r\n", "jwt=SECRETVALUE&%6Awt=SECRETVALUE&JWT&apikey=")
	lay := &layout{redact: defaultRedact, redactQuery: defaultRedactQueryNames, redactQueryLens: defaultRedactQueryLens}
	f.Fuzz(func(t *testing.T, hdr, query string) {
		e := &entry{lay: lay}
		e.buf = append(e.buf[:0], "id"...)
		e.id = span{0, 2}
		e.query = e.addQuery([]byte(query), lay)
		e.reqHdr = []byte(hdr)
		e.respHdr = []byte(hdr)
		var enc encoder
		out := enc.appendEntry(nil, e)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON for %q %q: %s", hdr, query, out)
		}
		var m struct {
			Request, Response struct {
				Headers     map[string]any `json:"headers"`
				Querystring map[string]any `json:"querystring"`
			}
		}
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		for _, h := range []map[string]any{m.Request.Headers, m.Response.Headers} {
			for _, r := range defaultRedact {
				if v, ok := h[string(r)]; ok && !isRedacted(v, false) {
					t.Fatalf("%s not redacted: %s", r, out)
				}
			}
		}
		for k, v := range m.Request.Querystring {
			if redactsName(lay.redactQuery, []byte(k)) && !isRedacted(v, true) {
				t.Fatalf("query %s not redacted: %s", k, out)
			}
		}
	})
}

// isRedacted reports whether a logged value is "REDACTED" or an array of
// them (true, a query name without a value, when flag is set).
func isRedacted(v any, flag bool) bool {
	switch v := v.(type) {
	case string:
		return v == "REDACTED"
	case bool:
		return flag
	case []any:
		for _, x := range v {
			if !isRedacted(x, flag) {
				return false
			}
		}
		return true
	}
	return false
}
