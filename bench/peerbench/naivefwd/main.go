// Command naivefwd is the peerbench harness's naive fasthttp proxy (server +
// HostClient, nothing else) plus the headers edgeguard's core must add:
// X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host and a
// generated X-Request-ID upstream, and the X-Request-ID on the response,
// each set with fasthttp's header setters as a straightforward proxy would.
//
// It is a reference point, not part of edgeguard: the backend shares the
// measured core and parses every header a proxy adds, so the naive proxy
// alone is a floor no proxy meeting edgeguard's requirements can reach;
// this one shows what those headers cost there (bench/peerbench/README.md).
package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"log"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18092", "listen address")
	upstream := flag.String("upstream", "127.0.0.1:18080", "backend address")
	flag.Parse()
	client := &fasthttp.HostClient{Addr: *upstream, MaxConns: 1024}
	var counter atomic.Uint64
	var seed [8]byte
	rand.Read(seed[:])
	prefix := hex.EncodeToString(seed[:]) + "-"
	handler := func(ctx *fasthttp.RequestCtx) {
		req := &ctx.Request
		resp := &ctx.Response
		req.Header.Del("Connection")
		var ipBuf, idBuf [64]byte
		ip := ipBuf[:0]
		if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
			ip = a.AddrPort().Addr().Unmap().AppendTo(ip)
		}
		id := strconv.AppendUint(append(idBuf[:0], prefix...), counter.Add(1), 16)
		req.Header.SetBytesV("X-Forwarded-For", ip)
		req.Header.SetBytesV("X-Real-IP", ip)
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.SetBytesV("X-Forwarded-Host", req.Header.Host())
		req.Header.SetBytesV("X-Request-ID", id)
		if err := client.Do(req, resp); err != nil {
			ctx.Error("bad gateway", fasthttp.StatusBadGateway)
			return
		}
		resp.Header.Del("Connection")
		resp.Header.SetBytesV("X-Request-ID", id)
	}
	srv := &fasthttp.Server{Handler: handler, Name: "naivefwd"}
	log.Fatal(srv.ListenAndServe(*listen))
}
