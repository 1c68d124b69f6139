// Command identity-backend is a runnable example of a backend behind the
// edgeguard gateway that trusts the gateway by its signature, not by its IP
// address. It verifies the X-Gateway-Identity token on every request (package
// github.com/edgeguard/edgeguard/filters/gatewayid/verify), prints the
// identity headers it received, and answers with the verified identity as
// JSON. Requests that did not come through the gateway, or whose method,
// path or identity headers (the transformer's, and the jwt plugin's
// X-Consumer-* ones) were changed, added or removed, get 401. The query
// string and the body are not bound by the token.
//
// Usage:
//
//	openssl genpkey -algorithm ed25519 -out gateway.pem    # gateway: private_key_file
//	openssl pkey -in gateway.pem -pubout -out gateway.pub  # backend
//	identity-backend -listen 127.0.0.1:9000 -public-key gateway.pub
//	identity-backend -listen 127.0.0.1:9000 -secret-file gateway.secret -server fasthttp
package main

import (
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters/gatewayid/verify"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	pubFile := flag.String("public-key", "", "gateway Ed25519 public key, PEM (EdDSA tokens)")
	secretFile := flag.String("secret-file", "", "shared HS256 secret file (HS256 tokens)")
	audience := flag.String("audience", "", "expected aud (the gateway's gateway_identity.audience)")
	header := flag.String("header", verify.DefaultHeader, "header carrying the token")
	server := flag.String("server", "net/http", "server to use: net/http or fasthttp")
	replays := flag.Bool("reject-replays", false, "accept each token only once")
	flag.Parse()

	cfg := verify.Config{Header: *header, Audience: *audience, RejectReplays: *replays}
	switch {
	case *pubFile != "":
		pub, err := verify.LoadPublicKeyFile(*pubFile)
		if err != nil {
			log.Fatal(err)
		}
		cfg.PublicKeys = []ed25519.PublicKey{pub}
	case *secretFile != "":
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			log.Fatal(err)
		}
		cfg.Secrets = [][]byte{[]byte(strings.TrimRight(string(b), "\r\n"))}
	default:
		log.Fatal("identity-backend: -public-key or -secret-file is required")
	}
	v, err := verify.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("identity-backend: %s server on %s", *server, *listen)
	switch *server {
	case "net/http":
		srv := &http.Server{Addr: *listen, Handler: newHandler(v, os.Stdout), ReadHeaderTimeout: 10 * time.Second}
		log.Fatal(srv.ListenAndServe())
	case "fasthttp":
		log.Fatal(fasthttp.ListenAndServe(*listen, newFastHandler(v, os.Stdout)))
	default:
		log.Fatalf("identity-backend: unknown -server %q", *server)
	}
}

// reply is the JSON answer: what the token proves and which headers came.
type reply struct {
	Subject  string              `json:"subject,omitempty"`
	Consumer *verify.Consumer    `json:"consumer,omitempty"`
	Claims   map[string]string   `json:"claims"`
	Request  string              `json:"request"`
	Received map[string][]string `json:"identity_headers"`
	Expires  time.Time           `json:"token_expires"`
}

func describe(id *verify.Identity, received func(string) []string, out io.Writer) []byte {
	r := reply{Subject: id.Subject(), Consumer: id.Consumer, Claims: id.Claims,
		Request: id.Method + " " + id.Path, Received: map[string][]string{}, Expires: id.Expires}
	names := make([]string, 0, len(id.Headers))
	for name := range id.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		vals := received(name)
		r.Received[name] = vals
		fmt.Fprintf(out, "%s %s %s: %q\n", id.Method, id.Path, name, vals)
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

func newHandler(v *verify.Verifier, out io.Writer) http.Handler {
	return v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := verify.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Write(describe(id, r.Header.Values, out))
	}))
}

func newFastHandler(v *verify.Verifier, out io.Writer) fasthttp.RequestHandler {
	return v.FastHTTP(func(ctx *fasthttp.RequestCtx) {
		id, _ := verify.FromRequestCtx(ctx)
		ctx.SetContentType("application/json")
		ctx.Write(describe(id, func(name string) []string {
			var vals []string
			for _, b := range ctx.Request.Header.PeekAll(name) {
				vals = append(vals, string(b))
			}
			return vals
		}, out))
	})
}
