// Package quickstart holds the configuration `edgeguard run` uses when no
// file is given, and the demo upstream it fronts.
package quickstart

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/cristalhq/jwt/v4"
	"net"
	"sort"

	"github.com/valyala/fasthttp"
)

// Config is the embedded quickstart configuration.
//
//go:embed quickstart.yaml
var Config []byte

// File is the name errors in the embedded config are reported under.
const File = "quickstart.yaml (embedded)"

// StartDemoUpstream serves the demo upstream on a free loopback port and
// returns its address. It answers every request with a JSON echo of what it
// received: method, path, query and the headers the gateway forwarded
// (identity headers included), so a user sees what backends get.
func StartDemoUpstream() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := &fasthttp.Server{Handler: Echo, NoDefaultServerHeader: true, StreamRequestBody: true}
	go s.Serve(ln)
	return ln.Addr().String(), func() { s.Shutdown() }, nil
}

// Echo is the demo upstream's handler.
func Echo(rc *fasthttp.RequestCtx) {
	headers := map[string]string{}
	for k, v := range rc.Request.Header.All() {
		headers[string(k)] = string(v)
	}
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	body := rc.Request.Body()
	out := map[string]any{
		"service":    "edgeguard-demo-upstream",
		"method":     string(rc.Method()),
		"path":       string(rc.Path()),
		"query":      string(rc.QueryArgs().QueryString()),
		"headers":    headers,
		"body_bytes": len(body),
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	rc.SetContentType("application/json")
	rc.SetBody(append(b, '\n'))
}

// DemoToken returns a random HS256 secret and a token for the quickstart's
// demo consumer signed with it (iss edgeguard-demo, valid for a day).
func DemoToken() (secret, token string, err error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", "", err
	}
	secret = hex.EncodeToString(key)
	signer, err := jwt.NewSignerHS(jwt.HS256, []byte(secret))
	if err != nil {
		return "", "", err
	}
	claims := map[string]any{"iss": "edgeguard-demo", "sub": "demo-user-42", "email": "demo@example.com",
		"roles": []string{"reader", "writer"}, "plan": "premium", "exp": time.Now().Add(24 * time.Hour).Unix()}
	t, err := jwt.NewBuilder(signer).Build(claims)
	if err != nil {
		return "", "", err
	}
	return secret, t.String(), nil
}
