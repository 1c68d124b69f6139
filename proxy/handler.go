package proxy

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/proxy/deadline"
	"github.com/edgeguard/edgeguard/proxy/pathnorm"
	"github.com/edgeguard/edgeguard/proxy/upstream"
)

// reqState is the pooled per-request state: the filters' Ctx plus the
// proxy's own buffers.
type reqState struct {
	filters.Ctx
	path   []byte
	xff    [][]byte
	limit  limitReader
	pre    []byte       // first bytes of a chunked body, read before forwarding
	multi  prefixReader // pre, then the rest of the stream
	passed int          // filters whose Access continued
	target string
	kind   string // plugin name of the filter that ended the request
	// hdrMask tells which headers to strip are present (see scanHeaders).
	hdrMask uint32
	// hopBuf and hopKeys are scratch space for stripResponseHopByHop.
	hopBuf  []byte
	hopKeys [][]byte
	host    []byte // the client's Host, before forwarding rewrites it
	// fwd holds the header lines the gateway adds to the upstream request
	// (X-Forwarded-*, X-Real-IP, X-Request-ID), written after the others.
	fwd []byte
	// ridGenerated is set when the request ID is the gateway's own.
	ridGenerated bool
	// peer is the TCP peer; trustedPeer whether it is a trusted proxy.
	peer        netip.Addr
	trustedPeer bool
	// start is Ctx.Start on deadline.Now's clock; now is forward's last
	// reading of it (0: none).
	start, now int64
	// conn is the client connection when it keeps its peer address and
	// phase timeouts (peerConn), else nil.
	conn *deadline.Conn
	// unparsed: the request was refused before fasthttp parsed its head
	// (errorHandler), so it has no method, path or headers to log.
	unparsed bool
	// For a streamed response, logged when its body is written (StreamDone).
	gw    *Gateway
	rt    *runtime
	route *route
}

var statePool = sync.Pool{New: func() any {
	s := &reqState{path: make([]byte, 0, 256)}
	s.Scratch = make([]byte, 0, 512)
	s.RequestID = make([]byte, 0, 64)
	return s
}}

func (s *reqState) reset() {
	s.Ctx.Reset()
	s.path = s.path[:0]
	s.xff = s.xff[:0]
	s.limit = limitReader{}
	s.multi = prefixReader{}
	s.passed = 0
	s.target = ""
	s.kind = ""
	s.hdrMask = 0
	s.host = s.host[:0]
	s.fwd = s.fwd[:0]
	s.ridGenerated = false
	s.peer, s.trustedPeer = netip.Addr{}, false
	s.start, s.now = 0, 0
	s.conn = nil
	s.gw, s.rt, s.route = nil, nil, nil
	s.unparsed = false
}

// Request-id generation: a random per-process prefix plus a counter,
// scrambled (ridMix). IDs are unique, not secret.
var (
	ridPrefix  [16]byte
	ridCounter atomic.Uint64
)

func init() {
	var b [16]byte
	if _, err := io.ReadFull(randReader, b[:]); err != nil {
		panic(err)
	}
	hex.Encode(ridPrefix[:], b[:8])
	ridKey = binary.LittleEndian.Uint64(b[8:])
}

// ridKey keys ridMix (random per process).
var ridKey uint64

// ridMix scrambles the counter so that request IDs do not tell how many
// requests the gateway served between two of a client's: the key, then
// splitmix64's finalizer, every step of which is invertible, so IDs stay
// unique (a bijection on 64 bits). ~2 ns.
func ridMix(x uint64) uint64 {
	x ^= ridKey
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func appendRequestID(dst []byte) []byte {
	dst = append(dst, ridPrefix[:]...)
	dst = append(dst, '-')
	n := ridMix(ridCounter.Add(1))
	dst = binary.BigEndian.AppendUint64(dst, hex8(uint32(n>>32)))
	return binary.BigEndian.AppendUint64(dst, hex8(uint32(n)))
}

// hex8 returns the eight lower-case hex digits of x as the bytes of a
// word, the first digit in the most significant byte. Written by hand: it
// formats all eight digits with a few word operations, where a loop over a
// digit table took ~150 instructions per request ID (callgrind) and a
// byte-pair table measured slower still.
func hex8(x uint32) uint64 {
	v := uint64(x)
	// Spread the nibbles into bytes: byte k (from the least significant)
	// holds nibble k.
	v = (v | v<<16) & 0x0000ffff0000ffff
	v = (v | v<<8) & 0x00ff00ff00ff00ff
	v = (v | v<<4) & 0x0f0f0f0f0f0f0f0f
	// '0'+d, plus 'a'-'0'-10 = 39 where d >= 10 (d+6 carries into bit 4).
	letters := ((v + 0x0606060606060606) >> 4) & 0x0101010101010101
	return v + 0x3030303030303030 + letters*39
}

// trustedRequestID returns the client's X-Request-ID when the peer is a
// trusted proxy and the value is well-formed, else nil.
func trustedRequestID(req *fasthttp.Request, trusted bool) []byte {
	if !trusted {
		return nil
	}
	// One well-formed line: with several, the backend could read another.
	var rid []byte
	n := 0
	for k, v := range req.Header.All() {
		if equalFold(k, "x-request-id") {
			rid, n = v, n+1
		}
	}
	if n == 1 && validRequestID(rid) {
		return rid
	}
	return nil
}

func validRequestID(b []byte) bool {
	if len(b) == 0 || len(b) > 128 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

var (
	// Header names in fasthttp's canonical form, so SetCanonical can skip
	// normalising them on every request.
	hdrRequestID    = []byte("X-Request-Id")
	hdrConnection   = []byte("Connection")
	hdrCookie       = []byte("Cookie")
	hopByHopHeaders = filters.NewHeaderNames("Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade", "Proxy-Authorization", "Proxy-Authenticate", "HTTP2-Settings")
	// gatewayOnlyHeaders are removed from every client request: plugins set
	// them for backends (bot score, mTLS subject, gateway identity).
	gatewayOnlyHeaders = filters.NewHeaderNames("X-Bot-Score", "X-Client-Cert-Subject", "X-Gateway-Identity",
		"X-Original-URL", "X-Rewrite-URL") // the last two: path overrides honoured by IIS and Symfony
	// untrustedForwarding is forwarding information the gateway does not
	// write itself (Spring's ForwardedHeaderFilter and others believe it).
	untrustedForwarding = filters.NewHeaderNames("Forwarded", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Path")
)

// dropUnderscoreHeaders removes every request header whose name has an
// underscore, as nginx does by default (underscores_in_headers off;
// server.headers_with_underscores: allow or reject instead). CGI,
// WSGI, PHP and Rack backends read X_User_ID and X-User-ID as one variable
// (HTTP_X_USER_ID), so a client's "X_User_ID: admin" would join the
// X-User-ID the gateway sets from a verified token, and likewise for every
// header the gateway owns.
func dropUnderscoreHeaders(st *reqState, h *fasthttp.RequestHeader) {
	keys, buf := st.hopKeys[:0], st.hopBuf[:0]
	for k := range h.All() {
		if bytes.IndexByte(k, '_') >= 0 {
			start := len(buf)
			buf = append(buf, k...) // copied: deletions move header storage
			keys = append(keys, buf[start:])
		}
	}
	for _, k := range keys {
		h.DelBytes(k)
	}
	st.hopKeys, st.hopBuf = keys[:0], buf[:0]
}

// handle is the fasthttp handler of the public listener.
func (g *Gateway) handle(rc *fasthttp.RequestCtx) {
	rt := g.rt.Load()
	rt.inflight.Add(1)
	st := statePool.Get().(*reqState)
	c := &st.Ctx
	c.RC = rc
	c.Start, st.start = startTime() // the server does not read the clock (LazyRequestTime)
	var r *route

	g.serve(rt, st, rc, &r)

	if g.logPhase(rt, st, r) {
		return // StreamDone finishes it once the body is written
	}
	g.finish(rt, st)
}

// finish releases a request's state; the request no longer counts as in
// flight (a retired config waits for its last one).
func (g *Gateway) finish(rt *runtime, st *reqState) {
	st.reset()
	statePool.Put(st)
	if rt.inflight.Add(-1) == 0 && rt.retired.Load() {
		g.retire(rt)
	}
}

// StreamDone is told by the upstream stream (upstream.OnStreamDone) when a
// response body streamed to the client is finished with: the request is
// logged now, with the bytes sent and the time the transfer took, and
// finished.
func (st *reqState) StreamDone(n int64, complete bool) {
	g, rt, r := st.gw, st.rt, st.route
	g.record(rt, st, r, n, deadline.Now())
	g.finish(rt, st)
}

func (g *Gateway) serve(rt *runtime, st *reqState, rc *fasthttp.RequestCtx, rp **route) {
	c := &st.Ctx
	req := &rc.Request

	// Client address: the TCP peer, or what trusted proxies say.
	st.conn = peerConn(rc)
	peer := connPeer(rc, st.conn)
	trustedPeer := rt.resolver.Trusted(peer)
	st.peer, st.trustedPeer = peer, trustedPeer
	if trustedPeer {
		// Copied out of fasthttp's PeekAll buffer, which the next PeekAll
		// (a filter's) overwrites.
		st.xff = append(st.xff[:0], req.Header.PeekAll(rt.resolver.Header())...)
		c.ClientIP = rt.resolver.Resolve(peer, st.xff)
	} else {
		c.ClientIP = peer
	}

	// Request ID: kept from a trusted proxy when well-formed, else generated.
	if rid := trustedRequestID(req, trustedPeer); rid != nil {
		c.RequestID = append(c.RequestID[:0], rid...)
	} else {
		c.RequestID = appendRequestID(c.RequestID[:0])
		st.ridGenerated = true // sent upstream with the forwarded headers
	}

	if status, reason := checkRequestLine(&req.Header); status != 0 {
		g.metrics.badRequests.Inc()
		g.coreReject(st, status, "bad_request_line", reason)
		rc.SetConnectionClose()
		return
	}
	reason, mask := scanHeaders(&req.Header)
	if mask&hasUnderscore != 0 { // see dropUnderscoreHeaders
		switch rt.cfg.Server.HeadersWithUnderscores {
		case "allow":
			mask &^= hasUnderscore
		case "reject":
			reason = "header name with an underscore"
		}
	}
	st.hdrMask = mask
	if reason == "" {
		reason = checkHost(&req.Header)
	}
	if reason != "" {
		g.metrics.badRequests.Inc()
		g.coreReject(st, fasthttp.StatusBadRequest, "bad_framing", "Bad request: "+reason)
		rc.SetConnectionClose()
		return
	}

	// Dynamic blocks apply to every route, before routing.
	if g.blocklist != nil && g.blocklist.Access(c) != filters.Continue {
		st.kind = blocklist.RejectedBy
		return
	}

	// One normalisation before routing and policy; see package pathnorm.
	uri := req.Header.RequestURI()
	path, query := splitQuery(uri)
	var err error
	st.path, err = pathnorm.Normalize(st.path[:0], path)
	if err != nil {
		msg := "Bad request: " + err.Error()
		if string(path) == "*" {
			msg = "Bad request: the server-wide target * (OPTIONS *) is not proxied"
		}
		g.metrics.badRequests.Inc()
		g.coreReject(st, fasthttp.StatusBadRequest, "bad_path", msg)
		return
	}

	r, name, ok := rt.router.Match(req.Header.Host(), st.path, req.Header.Method())
	if !ok {
		g.metrics.unmatched.Inc()
		g.coreReject(st, fasthttp.StatusNotFound, "no_route", "no Route matched with those values")
		return
	}
	*rp = r
	c.Route, c.Service = name, r.service.Name
	c.BodyLimit = int64(rt.cfg.Server.MaxBodySize)
	c.Path = st.path
	if rest, ok := stripPrefix(r, st.path); ok && dotSegmentFirst(rest) {
		g.metrics.badRequests.Inc()
		g.coreReject(st, fasthttp.StatusBadRequest, "bad_path", "Bad request: path is a dot segment once the route prefix is stripped")
		return
	}
	rewriteRequest(st, r, query)
	g.forwardClientCert(rc) // the verified mTLS subject, after client copies were removed

	// Access phase.
	for i := range r.chain {
		l := &r.chain[i]
		c.CurFilter, c.CurName = i, l.name
		switch l.f.Access(c) {
		case filters.Continue:
			st.passed = i + 1
			continue
		case filters.Respond:
			if c.RejectedBy == "" {
				c.RejectedBy = l.name
			}
			st.kind = l.kind
			r.metrics.rejected(c.RejectedBy, c.RejectReason)
		case filters.Drop:
			st.kind = l.kind
			c.RejectedBy, c.RejectReason = l.name, "dropped"
			r.metrics.rejected(l.name, "dropped")
			rc.SetConnectionClose()
			rc.Response.Reset()
			rc.Response.SetStatusCode(fasthttp.StatusForbidden)
		}
		g.responsePhase(st, r)
		return
	}

	g.forward(rt, st, r)
	g.responsePhase(st, r)
}

func (g *Gateway) responsePhase(st *reqState, r *route) {
	if !r.hasResp {
		return
	}
	c := &st.Ctx
	for i := 0; i < st.passed; i++ {
		l := &r.chain[i]
		if l.resp != nil {
			c.CurFilter, c.CurName = i, l.name
			l.resp.Response(c)
		}
	}
}

// forward sends the request to the route's service and puts the upstream
// response into rc.Response.
func (g *Gateway) forward(rt *runtime, st *reqState, r *route) {
	c := &st.Ctx
	rc := c.RC
	req := &rc.Request

	// Body size: a known length is checked here; a chunked body is counted
	// while it streams and the exchange fails with 413 past the limit.
	if cl := req.Header.ContentLength(); cl > 0 && int64(cl) > c.BodyLimit {
		c.RejectedBy = c.BodyLimitBy
		g.coreReject(st, fasthttp.StatusRequestEntityTooLarge, "body_too_large", "Request size limit exceeded")
		return
	} else if cl == -1 {
		if !g.prepareChunked(st) {
			return
		}
	} else if cl > 0 && req.IsBodyStream() {
		// Counted, and a client that stalls or breaks off is told apart
		// from an upstream that does (see the error handling below).
		st.limit = limitReader{r: req.BodyStream(), left: c.BodyLimit}
		req.SetBodyStream(&st.limit, cl)
	}

	st.host = append(st.host[:0], req.Header.Host()...)
	c.Host = st.host
	prepareUpstreamRequest(st, len(r.chain) > 0)
	req.UseHostHeader = true // the Host header, not the URI's host

	clientClose := req.Header.ConnectionClose()
	req.Header.ResetConnectionClose()
	http10 := !req.Header.IsHTTP11()
	svc := r.service
	// Durations are measured on deadline.Now's clock from st.start: one
	// clock reading each, and no time.Time arithmetic.
	base := c.Start.UnixNano()
	now := deadline.Now()
	start := time.Duration(now - st.start)
	if !r.preserveHost {
		req.Header.SetHost("") // Target.Do sends the target's address
	}
	for attempt := 0; ; attempt++ {
		t := svc.Pick(base + int64(start))
		st.target = t.Addr
		err := t.Do(req, &rc.Response, st.fwd, now)
		now = deadline.Now()
		st.now = now
		end := time.Duration(now - st.start)
		c.UpstreamDur += end - start
		start = end
		if err == nil {
			svc.Success(t)
			c.UpstreamStatus = rc.Response.StatusCode()
			if http10 && rc.Response.IsBodyStream() && rc.Response.Header.ContentLength() < 0 && !readWhole(&rc.Response, svc.MaxResponseSize()) {
				c.UpstreamError = "response_too_large"
				g.coreReject(st, fasthttp.StatusBadGateway, "upstream_response_too_large", "The upstream response is too large for an HTTP/1.0 client")
			}
			break
		}
		rc.Response.Reset()
		if errors.Is(err, errBodyTooLarge) || st.limit.err == errBodyTooLarge {
			c.RejectedBy = c.BodyLimitBy
			g.coreReject(st, fasthttp.StatusRequestEntityTooLarge, "body_too_large", "Request size limit exceeded")
			rc.SetConnectionClose()
			return
		}
		if st.limit.err != nil && st.limit.err != io.EOF {
			// The client's body broke off, was malformed, or stalled
			// mid-stream.
			g.rejectBody(st, st.limit.err, "Bad request: invalid request body")
			rc.SetConnectionClose()
			return
		}
		status, reason := upstream.Classify(err)
		var de *upstream.ErrDial
		isDial := errors.As(err, &de)
		if isDial || status == fasthttp.StatusGatewayTimeout {
			svc.Failure(t, base+int64(end))
		}
		r.metrics.upstreamError(reason)
		if isDial && attempt < svc.Retries() && len(svc.Targets) > 1 {
			continue
		}
		c.UpstreamError = reason
		msg := "An invalid response was received from the upstream server"
		if status == fasthttp.StatusGatewayTimeout {
			msg = "The upstream server is timing out"
		}
		g.coreReject(st, status, "upstream_"+reason, msg)
		break
	}
	if clientClose {
		rc.SetConnectionClose()
	}
	resp := &rc.Response
	stripResponseHopByHop(st, &resp.Header)
	resp.Header.ResetConnectionClose()
}

// readWhole reads a streamed response body of unknown length whole (up to
// max bytes) and makes it the body, for an HTTP/1.0 client: one must not be
// sent chunked (RFC 9112 §6.1), and fasthttp cannot end a body by closing
// the connection, so it goes with a Content-Length. It reports false when
// the body is longer than max or broke off.
func readWhole(resp *fasthttp.Response, max int) bool {
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	n, err := io.Copy(buf, io.LimitReader(resp.BodyStream(), int64(max)+1))
	if err != nil || n > int64(max) {
		resp.ResetBody() // closes the stream; the upstream connection is not reused
		return false
	}
	resp.SetBody(buf.B) // copied; closes the stream, at its end: reused
	return true
}

// stripResponseHopByHop removes hop-by-hop headers (and those the upstream
// named in Connection) from the upstream response. The client side parses
// response header names as sent (DisableHeaderNamesNormalizing), so names
// are matched case-insensitively and deleted by their exact bytes. One pass
// finds them; most responses have none and cost no deletion.
func stripResponseHopByHop(st *reqState, h *fasthttp.ResponseHeader) {
	var hop uint32
	var conn []byte
	for k, v := range h.All() {
		b := headerBit(k)
		hop |= b
		if b&hasConnection != 0 { // every Connection line counts
			if len(conn) == 0 {
				conn = st.hopBuf[:0]
			} else {
				conn = append(conn, ',')
			}
			conn = append(conn, v...) // copied: deletions move header storage
			st.hopBuf = conn
		}
	}
	if hop&(hasConnection|hasHopByHop) == 0 {
		return
	}
	keys := st.hopKeys[:0]
	buf := st.hopBuf[len(conn):len(conn)]
	for k := range h.All() {
		del := headerBit(k)&(hasConnection|hasHopByHop) != 0
		if !del {
			for rest := conn; len(rest) > 0 && !del; {
				var tok []byte
				tok, rest = nextToken(rest)
				del = len(tok) > 0 && equalFold(k, tok) && !equalFold(tok, "x-request-id") && !keptFromConnection(tok)
			}
		}
		if del {
			start := len(buf)
			buf = append(buf, k...)
			keys = append(keys, buf[start:])
		}
	}
	for _, k := range keys {
		h.DelBytes(k)
	}
	st.hopKeys = keys[:0]
	st.hopBuf = conn[:0]
}

// prepareUpstreamRequest rewrites the client request in place into the
// upstream request (hop-by-hop headers are already gone, see
// rewriteRequest) and formats the headers the gateway adds, X-Forwarded-For,
// X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host and a generated
// X-Request-ID, into st.fwd, which upstream.Target.Do appends to the request
// head as bytes. Any other copy of those headers is removed first: the
// client's, or one a filter set (filtered says the route has filters); only
// a trusted proxy's X-Forwarded-Proto and X-Request-ID are kept.
func prepareUpstreamRequest(st *reqState, filtered bool) {
	c := &st.Ctx
	req := &c.RC.Request
	h := &req.Header

	// X-Forwarded-For: appended to when the peer is a trusted proxy,
	// replaced otherwise (an untrusted client's list is not passed on).
	// Values came through fasthttp's header parser: no CR or LF.
	peer := st.peer
	b := append(st.fwd[:0], "X-Forwarded-For: "...)
	if st.trustedPeer && len(st.xff) > 0 {
		for _, v := range st.xff {
			b = append(b, v...)
			b = append(b, ", "...)
		}
	}
	ip := len(b)
	if st.conn != nil {
		b = st.conn.AppendPeer(b) // formatted once per connection
	} else {
		b = peer.AppendTo(b)
	}
	ipEnd := len(b)
	b = append(b, "\r\nX-Real-Ip: "...)
	if c.ClientIP != peer {
		b = c.ClientIP.AppendTo(b)
	} else { // the address just formatted
		b = append(b, b[ip:ipEnd]...)
	}
	b = append(b, "\r\n"...)
	keepProto := false
	if st.hdrMask&hasForwarded != 0 || filtered {
		present := forwardedHeaders.Present(h)
		keepProto = st.trustedPeer && present&(1<<fwdProto) != 0
		var keep uint64
		if keepProto {
			keep |= 1 << fwdProto
		}
		if !st.ridGenerated {
			keep |= 1 << fwdRequestID
		}
		forwardedHeaders.DelPresent(h, present&^keep)
	}
	if !keepProto {
		if c.RC.IsTLS() {
			b = append(b, "X-Forwarded-Proto: https\r\n"...)
		} else {
			b = append(b, "X-Forwarded-Proto: http\r\n"...)
		}
	}
	if len(st.host) > 0 {
		b = append(b, "X-Forwarded-Host: "...)
		b = append(b, st.host...)
		b = append(b, "\r\n"...)
	}
	if st.ridGenerated {
		b = append(b, "X-Request-Id: "...)
		b = append(b, c.RequestID...)
		b = append(b, "\r\n"...)
	}
	// Cookies go upstream as the client sent them unless a filter changed
	// them: fasthttp writes its own rendering once anything parsed them
	// (any pass over the headers does), which drops quotes and the cookies
	// it finds invalid. Only where Target.Do writes the head itself: through
	// fasthttp's transport (a streamed body) cookies set as headers would be
	// parsed and rendered again.
	if st.hdrMask&hasCookie != 0 && !c.CookieEdited && upstream.Direct(req) {
		h.DelBytes(hdrCookie)
		b = appendRawCookies(b, h.RawHeaders())
	}
	st.fwd = b

	h.SetNoDefaultContentType(true)
}

// forwardedHeaders are the headers the gateway writes itself (st.fwd);
// fwdProto and fwdRequestID are the bits of the two a trusted peer's copy
// of may be kept.
var forwardedHeaders = filters.NewHeaderNames("X-Forwarded-For", "X-Real-IP", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-ID")

const (
	fwdProto     = 3
	fwdRequestID = 4
)

// rewriteRequest prepares the request before the filter chain sees it:
// hop-by-hop headers (and those named in Connection) are removed, so no
// client header can later strip what a filter adds, and the URI is set to
// the normalised path (without the route prefix when strip_path is on) and
// the original query, so filters that rewrite the URI or query work on what
// will be forwarded.
func rewriteRequest(st *reqState, r *route, query []byte) {
	req := &st.RC.Request
	h := &req.Header
	if st.hdrMask&hasConnection != 0 {
		// Every Connection line counts (RFC 9110 §5.3: they combine). The
		// values are copied: deletions move header storage.
		conn := st.hopBuf[:0]
		for k, v := range h.All() {
			if equalFold(k, "connection") {
				conn = append(append(conn, v...), ',')
			}
		}
		st.hopBuf = conn[:0]
		for len(conn) > 0 {
			var tok []byte
			tok, conn = nextToken(conn)
			if len(tok) > 0 && !equalFold(tok, "x-request-id") && !equalFold(tok, "close") && !equalFold(tok, "keep-alive") && !keptFromConnection(tok) {
				h.DelBytes(tok)
				if equalFold(tok, "cookie") {
					st.hdrMask &^= hasCookie // not to be restored either
				}
			}
		}
		h.DelBytes(hdrConnection)
	}
	if st.hdrMask&hasHopByHop != 0 {
		hopByHopHeaders.Del(h, 0)
	}
	// A client's X-Request-ID that was not kept is not shown to filters.
	if st.hdrMask&hasForwarded != 0 && st.ridGenerated {
		h.DelBytes(hdrRequestID)
	}
	// Headers only the gateway may set, whatever plugins the route runs.
	if st.hdrMask&hasGatewayOnly != 0 {
		gatewayOnlyHeaders.Del(h, 0)
	}
	// Forwarding information the gateway does not write: believed from a
	// trusted proxy only, like X-Forwarded-For.
	if st.hdrMask&hasForwardedMore != 0 && !st.trustedPeer {
		untrustedForwarding.Del(h, 0)
	}
	if st.hdrMask&hasUnderscore != 0 {
		dropUnderscoreHeaders(st, h)
	}
	p := st.path
	if rest, ok := stripPrefix(r, st.path); ok {
		if len(rest) == 0 || rest[0] != '/' {
			// build "/"+rest after the normalised path in the same buffer
			n := len(st.path)
			st.path = append(st.path, '/')
			st.path = append(st.path, rest...)
			p = st.path[n:]
			st.Path = st.path[:n]
		} else {
			p = rest
		}
	}
	// The request line is set whole, not through req.URI(): this drops the
	// URI fasthttp's server parsed, so Request.Write sends the line as set
	// instead of rebuilding it from a parsed URI (~1.5k instructions per
	// request); a filter that needs the URI parses it again from this line.
	if len(query) > 0 {
		n := len(st.path)
		st.path = append(st.path, p...)
		st.path = append(st.path, '?')
		st.path = append(st.path, query...)
		req.SetRequestURIBytes(st.path[n:])
		st.path = st.path[:n]
	} else {
		req.SetRequestURIBytes(p)
	}
}

// stripPrefix returns what is left of path, the normalised path, after
// the route's prefix when the route strips it (ok false otherwise). Prefixes
// match like Kong's, byte-wise, so the rest may begin inside a segment
// ("/v1" strips "/v10/x" to "0/x").
func stripPrefix(r *route, path []byte) (rest []byte, ok bool) {
	if !r.stripPath {
		return nil, false
	}
	for _, pre := range r.prefixes {
		if len(path) >= len(pre) && string(path[:len(pre)]) == pre {
			return path[len(pre):], true
		}
	}
	return nil, false
}

// dotSegmentFirst reports whether rest, a stripped path's remainder, would
// begin with a dot segment once forwarded as "/"+rest: "/api./admin"
// matches the prefix "/api" and would go upstream as "/./admin", which the
// backend resolves to "/admin", a path the gateway never routed (the
// route for "/api/admin" and its policies did not run).
func dotSegmentFirst(rest []byte) bool {
	if len(rest) > 0 && rest[0] == '/' {
		return false
	}
	seg := rest
	if i := bytes.IndexByte(rest, '/'); i >= 0 {
		seg = rest[:i]
	}
	return string(seg) == "." || string(seg) == ".."
}

// keptFromConnection reports whether a header named in Connection is kept
// anyway: the message's framing and Host are not hop-by-hop, and removing
// them would leave a body without its length (a request on its way
// upstream with its body still in the stream) or a request without its
// host.
func keptFromConnection(name []byte) bool {
	return equalFold(name, "content-length") || equalFold(name, "transfer-encoding") || equalFold(name, "host")
}

var slash = []byte("/")

func splitQuery(uri []byte) (path, query []byte) {
	// absolute-form request targets are reduced to their path
	if len(uri) > 0 && uri[0] != '/' {
		if i := bytes.Index(uri, []byte("://")); i > 0 {
			// The authority ends at the first '/', '?' or '#' (RFC 3986
			// §3.2): "http://a?/x" is the path "/" with the query "/x".
			rest := uri[i+3:]
			j := bytes.IndexAny(rest, "/?#")
			switch {
			case j < 0:
				return slash, nil
			case rest[j] == '/':
				uri = rest[j:]
			default:
				q := rest[j:]
				if k := bytes.IndexByte(q, '#'); k >= 0 {
					q = q[:k]
				}
				if len(q) > 0 {
					return slash, q[1:]
				}
				return slash, nil
			}
		}
	}
	// A fragment is not part of a request target (RFC 9110 4.2.1); one sent
	// anyway is dropped, from the path or the query.
	if i := bytes.IndexByte(uri, '#'); i >= 0 {
		uri = uri[:i]
	}
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		return uri[:i], uri[i+1:]
	}
	return uri, nil
}

// peerAddr returns the TCP peer's address of rc.
func peerAddr(rc *fasthttp.RequestCtx) netip.Addr { return connPeer(rc, peerConn(rc)) }

// connPeer is peerAddr with rc's peerConn already looked up.
func connPeer(rc *fasthttp.RequestCtx, dc *deadline.Conn) netip.Addr {
	if dc != nil {
		return dc.Peer()
	}
	if a, ok := rc.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.IPv4Unspecified()
}

// peerConn returns the deadline.Conn under rc's connection (the public
// listeners', plain or under TLS), which keeps the peer address parsed and
// formatted and the phase timeouts; nil for any other connection.
func peerConn(rc *fasthttp.RequestCtx) *deadline.Conn {
	c := rc.Conn()
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if dc, ok := c.(*deadline.Conn); ok && dc.Peer().IsValid() {
		return dc
	}
	return nil
}

// startWrite starts the writing phase of the client connection for a
// response made outside handle (whose logPhase does it): without it the
// connection would take the response for an interim write and keep the
// request's read deadline for the wait that follows (deadline.Conn.Write).
func startWrite(rc *fasthttp.RequestCtx) {
	if dc := peerConn(rc); dc != nil {
		dc.StartWrite(deadline.Now())
	}
}

// coreReject writes a gateway-generated error: Kong's body
// {"message": ..., "request_id": ...}.
func (g *Gateway) coreReject(st *reqState, status int, reason, msg string) {
	c := &st.Ctx
	if c.RejectedBy == "" {
		c.RejectedBy = "core"
	}
	c.RejectReason = reason
	b := c.Scratch[:0]
	b = append(b, `{"message":`...)
	b = filters.AppendJSONString(b, msg)
	b = append(b, `,"request_id":"`...)
	b = append(b, c.RequestID...)
	b = append(b, `"}`...)
	c.Scratch = b[:0]
	rc := c.RC
	rc.Response.Reset()
	rc.Response.SetStatusCode(status)
	rc.Response.Header.SetContentTypeBytes(jsonType)
	rc.Response.SetBody(b)
}

var jsonType = []byte("application/json; charset=utf-8")

// logPhase readies the response to be written (its X-Request-ID, the
// connection's write phase) and records the request (record: metrics, log
// filters, the access log line). A response whose body streams from the
// upstream is recorded once the body is written: logPhase then reports
// deferred, and StreamDone records and finishes the request.
func (g *Gateway) logPhase(rt *runtime, st *reqState, r *route) (deferred bool) {
	c := &st.Ctx
	rc := c.RC
	// The one place the response gets its X-Request-ID, whoever produced it
	// (upstream, a filter, the core); an upstream's own value is replaced.
	rc.Response.Header.SetCanonical(hdrRequestID, c.RequestID)
	// The clock as forward read it after the upstream answered, unless
	// response filters have run since (or nothing was forwarded).
	now := st.now
	if now == 0 || r == nil || r.hasResp {
		now = deadline.Now()
	}
	status := rc.Response.StatusCode()
	in := int64(rc.Request.Header.ContentLength())
	if st.conn != nil {
		st.conn.StartWrite(now) // the response's write timeout counts from here
		// An error response on a connection that closes (the gateway's
		// refusals), or to a request with a body (fasthttp closes when more
		// of it is unread than it drains): the client may still be sending,
		// so the close lingers (deadline.Conn.Linger; a connection kept
		// alive is unaffected).
		if status >= 400 && (in != 0 || rc.Response.ConnectionClose()) {
			st.conn.Linger()
		}
	}
	if rc.Response.BodyStream() == nil {
		g.record(rt, st, r, int64(len(rc.Response.Body())), now)
		return false
	}
	if upstream.OnStreamDone(&rc.Response, st) {
		st.gw, st.rt, st.route = g, rt, r
		return true
	}
	// A stream of fasthttp's own (a response to a streamed upload): logged
	// with its announced length.
	g.record(rt, st, r, max(int64(rc.Response.Header.ContentLength()), 0), now)
	return false
}

// record counts and logs a request whose response sent out body bytes,
// at now (deadline.Now's clock).
func (g *Gateway) record(rt *runtime, st *reqState, r *route, out, now int64) {
	c := &st.Ctx
	rc := c.RC
	total := time.Duration(now - st.start)
	status := rc.Response.StatusCode()
	in := bytesIn(st)
	if rt.abuse != nil && st.kind != blocklist.RejectedBy && !c.SharedLimit {
		rt.abuse.Observe(c.ClientIP, status, st.kind, c.Start)
	}
	if r != nil {
		r.metrics.observe(status, total, c.UpstreamDur, in, out)
		if r.hasLog {
			for i := range r.chain {
				if l := &r.chain[i]; l.log != nil {
					c.CurFilter, c.CurName = i, l.name
					l.log.Log(c)
				}
			}
		}
	}
	if al := g.accessLog.Load(); al != nil {
		e := al.Acquire()
		e.Time = c.Start
		e.RequestID = append(e.RequestID[:0], c.RequestID...)
		e.ClientIP = c.ClientIP
		e.Method, e.Host, e.Path, e.UserAgent = e.Method[:0], e.Host[:0], e.Path[:0], e.UserAgent[:0]
		if !st.unparsed { // else fasthttp's defaults ("GET", "/") would be logged
			e.Method = append(e.Method, rc.Request.Header.Method()...)
			if len(st.host) > 0 {
				e.Host = appendTrunc(e.Host, st.host)
			} else {
				e.Host = appendTrunc(e.Host, rc.Request.Header.Host())
			}
			if len(st.path) > 0 {
				e.Path = appendTrunc(e.Path, st.path)
			} else {
				e.Path = appendTrunc(e.Path, rc.Request.Header.RequestURI())
			}
			e.UserAgent = appendTrunc(e.UserAgent, rc.Request.Header.UserAgent())
		}
		e.Status = status
		e.BytesIn, e.BytesOut = in, out
		e.Route, e.Service = c.Route, c.Service
		if c.Consumer != nil {
			e.Consumer = c.Consumer.Username
		}
		e.RejectedBy, e.Reason = c.RejectedBy, c.RejectReason
		e.Upstream, e.UpstreamErr = st.target, c.UpstreamError
		e.TotalUS = total.Microseconds()
		e.UpstreamUS = c.UpstreamDur.Microseconds()
		e.GatewayUS = e.TotalUS - e.UpstreamUS
		al.Capture(e, c)
		al.Submit(e)
	}
}

// bytesIn is the request body's size as received: the length of a body
// read whole, the bytes read of one streamed (st.limit counts them; a body
// refused before it was read counts 0, its Content-Length being only what
// the client claimed).
func bytesIn(st *reqState) int64 {
	req := &st.RC.Request
	if req.IsBodyStream() {
		return st.limit.read
	}
	if cl := req.Header.ContentLength(); cl >= 0 {
		return int64(cl) // read whole: exactly its length
	}
	return int64(len(req.Body()))
}

func appendTrunc(dst, src []byte) []byte {
	if len(src) > 2048 {
		src = src[:2048]
	}
	return append(dst, src...)
}

// chunkPrefetch is how much of a chunked body is read (and its framing
// checked) before anything is sent upstream. A body that ends within it is
// forwarded with a Content-Length, and a malformed one gets 400 without
// reaching the upstream; a longer one streams, and an error past this point
// fails the upstream exchange (the upstream sees a truncated body and a
// closed connection, never the client's own framing).
const chunkPrefetch = 64 << 10

// prepareChunked reads up to chunkPrefetch bytes of a chunked body. It
// reports whether the request may go on; otherwise the response is written.
func (g *Gateway) prepareChunked(st *reqState) bool {
	c := &st.Ctx
	req := &c.RC.Request
	bs := req.BodyStream()
	if bs == nil {
		return true
	}
	st.limit = limitReader{r: bs, left: c.BodyLimit, h: &req.Header}
	if cap(st.pre) < chunkPrefetch {
		st.pre = make([]byte, chunkPrefetch)
	}
	buf := st.pre[:chunkPrefetch]
	n, err := io.ReadFull(&st.limit, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		req.SetBody(buf[:n])
		req.Header.SetContentLength(n)
		return true
	case err == nil:
		st.multi = prefixReader{pre: buf[:n], r: &st.limit}
		req.SetBodyStream(&st.multi, -1)
		return true
	case err == errBodyTooLarge:
		c.RejectedBy = c.BodyLimitBy
		g.coreReject(st, fasthttp.StatusRequestEntityTooLarge, "body_too_large", "Request size limit exceeded")
	default:
		g.rejectBody(st, err, "Bad request: invalid chunked body")
	}
	c.RC.SetConnectionClose()
	return false
}

// rejectBody answers a request whose body could not be read: 408 when the
// client stalled past read_timeout, else 400 with msg.
func (g *Gateway) rejectBody(st *reqState, err error, msg string) {
	if isTimeout(err) {
		g.coreReject(st, fasthttp.StatusRequestTimeout, "body_timeout", "Request timeout")
		return
	}
	if errors.Is(err, errTrailer) {
		msg = "Bad request: trailer fields are not accepted"
	}
	g.coreReject(st, fasthttp.StatusBadRequest, "bad_body", msg)
}

// prefixReader yields pre, then r.
type prefixReader struct {
	pre []byte
	r   io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// limitReader counts a streamed request body and fails past the limit. It
// remembers the first error of the client stream. With h (a chunked body),
// a trailer section with fields fails the body at its end (errTrailer).
type limitReader struct {
	r    io.Reader
	left int64
	read int64
	err  error
	h    *fasthttp.RequestHeader
}

var (
	errBodyTooLarge = errors.New("request body exceeds the size limit")
	// errTrailer: a chunked request body ended with trailer fields, which
	// the gateway refuses. fasthttp keeps them apart from the header
	// section but a backend reads them like headers (fasthttp's Peek does):
	// a client's "X-User-ID: admin" after the last chunk would sit beside
	// the X-User-ID the gateway set, past every rule that strips client
	// copies. Dropping them is not possible through fasthttp's API without
	// moving them into the header section; nginx discards them.
	errTrailer = errors.New("request trailer fields are not accepted")
)

func (l *limitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.left <= 0 {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.err = errBodyTooLarge
		} else {
			l.err = err
		}
		if l.err == nil {
			return 0, nil
		}
		return 0, l.err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	l.read += int64(n)
	if err == io.EOF && l.h != nil && len(l.h.PeekTrailerKeys()) > 0 {
		err = errTrailer
	}
	if err != nil {
		l.err = err
	}
	return n, err
}

// normalizeInto is pathnorm.Normalize, named for the benchmark.
var normalizeInto = pathnorm.Normalize

// nextToken splits the first comma-separated token off a header value.
func nextToken(v []byte) (tok, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return trimOWS(v[:i]), v[i+1:]
	}
	return trimOWS(v), nil
}
