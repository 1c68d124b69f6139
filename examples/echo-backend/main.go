// Command echo-backend is the sample backend of the examples: it prints the
// identity headers each request brought (X-User-*, X-Consumer-*,
// X-Bot-Score, X-Real-IP, ...) and answers with everything it received as
// JSON, so you can see exactly what edgeguard forwards.
//
//	go run ./examples/echo-backend -listen 127.0.0.1:9000
package main

import (
	"flag"
	"log"
	"net"
	"os"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/examples/echo-backend/echo"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	quiet := flag.Bool("quiet", false, "do not print each request")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	h := echo.Handler(os.Stdout)
	if *quiet {
		h = echo.Handler(nil)
	}
	log.Printf("echo-backend listening on %s", ln.Addr())
	log.Fatal((&fasthttp.Server{Handler: h, StreamRequestBody: true}).Serve(ln))
}
