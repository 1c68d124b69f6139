// Package echo is the handler of the examples' sample backend.
package echo

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
)

// Identity headers are printed on their own line per request.
var identityPrefixes = []string{"X-User-", "X-Consumer-", "X-Credential-", "X-Anonymous-", "X-Bot-Score", "X-Real-Ip", "X-Client-Cert", "X-Gateway-Identity"}

// Handler answers with a JSON echo of the request and, when w is not nil,
// prints its identity headers to w.
func Handler(w io.Writer) fasthttp.RequestHandler {
	var mu sync.Mutex
	return func(rc *fasthttp.RequestCtx) {
		headers := map[string]string{}
		var ident []string
		for k, v := range rc.Request.Header.All() {
			headers[string(k)] = string(v)
			for _, p := range identityPrefixes {
				if strings.HasPrefix(string(k), p) {
					ident = append(ident, fmt.Sprintf("%s=%q", k, v))
				}
			}
		}
		sort.Strings(ident)
		if w != nil {
			mu.Lock()
			fmt.Fprintf(w, "%s %s %s\n", rc.Method(), rc.RequestURI(), strings.Join(ident, " "))
			mu.Unlock()
		}
		body := rc.Request.Body()
		out, _ := json.MarshalIndent(map[string]any{
			"backend": "echo", "method": string(rc.Method()), "uri": string(rc.RequestURI()),
			"headers": headers, "body_bytes": len(body),
		}, "", "  ")
		rc.SetContentType("application/json")
		rc.SetBody(append(out, '\n'))
	}
}
