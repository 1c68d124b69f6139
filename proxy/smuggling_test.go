package proxy

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedTestdata finds ../shared/testdata beside the checkout (CI clones main
// into another folder with shared/ beside it).
func sharedTestdata(t testing.TB) string {
	dir, _ := os.Getwd()
	for i := 0; i < 6; i++ {
		cand := filepath.Join(dir, "..", "shared", "testdata")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		dir = filepath.Dir(dir)
	}
	t.Skip("shared/testdata not found beside the checkout")
	return ""
}

type llhttpCase struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Mode    string `json:"mode"`
	Strict  bool   `json:"strict"`
	Verdict string `json:"llhttp_verdict"`
	Raw     string `json:"raw_b64"`
}

// knownHarmless lists strict-parser rejects that edgeguard accepts, and why
// that cannot desynchronise it from an upstream.
var knownHarmless = map[string]string{
	"transfer-encoding.md:363": "an empty chunk extension ('2;') is ignored: edgeguard re-frames bodies and never forwards chunk extensions",
}

// TestLLHTTPCases sends nodejs/llhttp's strict-mode request cases over raw
// TCP. Every message a strict parser rejects must be refused (400, or the
// connection closed without a response) and must never reach the backend.
func TestLLHTTPCases(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(sharedTestdata(t), "http1", "llhttp", "cases.json"))
	if err != nil {
		t.Skip(err)
	}
	var file struct{ Cases []llhttpCase }
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	addr := g.Addr().String()
	var rejected, accepted, acceptedRefused int
	for _, c := range file.Cases {
		if c.Mode != "request" || !c.Strict {
			continue
		}
		msg, _ := base64.StdEncoding.DecodeString(c.Raw)
		before := b.hits.Load()
		out := raw(t, addr, string(msg))
		hits := b.hits.Load() - before
		switch c.Verdict {
		case "reject":
			if knownHarmless[c.ID] != "" {
				t.Logf("%s accepted on purpose: %s", c.ID, knownHarmless[c.ID])
				continue
			}
			rejected++
			if hits != 0 || (out != "" && !strings.HasPrefix(out, "HTTP/1.1 400") && !strings.HasPrefix(out, "HTTP/1.1 501") && !strings.HasPrefix(out, "HTTP/1.1 505")) {
				t.Errorf("%s (%s): must be refused, got %d upstream hits and:\n%.200q\nrequest: %q", c.ID, c.Title, hits, out, msg)
			}
		case "accept":
			accepted++
			if !strings.HasPrefix(out, "HTTP/1.1 200") {
				acceptedRefused++
				t.Logf("stricter than llhttp on %s (%s): %.60q", c.ID, c.Title, out)
			}
		}
	}
	t.Logf("llhttp strict cases: %d rejects all refused; %d accepts, %d of them refused by edgeguard", rejected, accepted, acceptedRefused)
}

// TestSmuggling covers the RFC 9112 classes beyond the llhttp cases.
func TestSmuggling(t *testing.T) {
	b := startBackend(t, "api")
	g := startGateway(t, `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api}]
`, b)
	addr := g.Addr().String()
	bad := map[string]string{
		"CL+TE":                 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"TE+CL":                 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
		"duplicate CL same":     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
		"duplicate CL differ":   "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
		"CL list":               "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\nabcd",
		"CL plus sign":          "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd",
		"CL hex":                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4\r\n\r\nabcd",
		"CL negative":           "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		"TE identity":           "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
		"TE gzip chunked":       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"TE xchunked":           "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
		"TE twice":              "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"TE space before colon": "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
		"TE in HTTP/1.0":        "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"TE vertical tab":       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n",
		"obs-fold":              "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n",
		"obs-fold TE":           "POST / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
		"bare LF header":        "GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n",
		"bare CR header":        "GET / HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n",
		"NUL in value":          "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n",
		"bad header name":       "GET / HTTP/1.1\r\nHost: a\r\nX(A): 1\r\n\r\n",
		"bad chunk size":        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
		"chunk size overflow":   "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
		"chunk no CRLF":         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n",
		"two hosts":             "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"space in URI":          "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
		"bad version":           "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
		"HTTP/2 preface-like":   "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
	}
	for name, req := range bad {
		before := b.hits.Load()
		out := raw(t, addr, req)
		if b.hits.Load() != before {
			t.Errorf("%s: reached the backend; response %.80q", name, out)
			continue
		}
		if out != "" && !strings.HasPrefix(out, "HTTP/1.1 400") && !strings.HasPrefix(out, "HTTP/1.1 505") && !strings.HasPrefix(out, "HTTP/1.1 501") {
			t.Errorf("%s: want 400 and close, got %.120q", name, out)
		}
		if strings.Count(out, "HTTP/1.1 ") > 1 {
			t.Errorf("%s: more than one response on a refused connection: %q", name, out)
		}
	}
	// Good framing still works, including pipelining.
	out := raw(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if strings.Count(out, "HTTP/1.1 200") != 2 {
		t.Fatalf("pipelined pair: %q", out)
	}
	out = raw(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200") || !strings.Contains(out, `"body_len":3`) {
		t.Fatalf("chunked with extension: %q", out)
	}
}
