package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/proxy/deadline"
)

// Do sends req to the target over a pooled connection, with the header lines
// in extra ("Name: value\r\n" each, already validated) added to it, and
// reads the answer into resp (reading a response resets it first).
//
// It replaces HostClient.Do on the proxy's request path. Do parses the
// request URI on every call (to compare its scheme with the target's, to
// set a path option) and Request.Write then rebuilds the request line from
// the parsed URI, where the proxy has already set the request line and the
// Host header (Request.SetRequestURIBytes, UseHostHeader); and the proxy's
// own headers would go through fasthttp's header setters (a copy, a CR/LF
// scrub and a duplicate scan each) only to be serialised again. Here the
// request head fasthttp serialises gets extra appended as bytes. Measured
// with callgrind under wrk: see proxy/upstream/README.md.
//
// Responses: a service that reads responses whole gets them whole (up to
// its limit). A streaming service gets a response of known length up to
// smallResponse whole too, and any other streamed: its connection goes back
// to the pool when the server has written the body and closes the stream
// (see streamBody). What is refused (502) and what keeps a connection from
// being reused: readResponse, roundTrip and idleUsable.
//
// A request whose body is a stream (or has trailers) goes through
// fasthttp's own transport instead, with extra set as headers.
//
// Like HostClient.Do, an exchange that failed on a kept-alive connection the
// upstream had closed is tried once more on another connection when the
// request is idempotent and its body is not a stream.
//
// A request without a Host header is sent with the target's address as its
// Host (the proxy empties the client's unless the route preserves it): the
// line is written with the head, where setting the header would copy and
// scrub the address on every request.
//
// now is the caller's reading of deadline.Now, just taken: the first
// attempt's write and read deadlines count from it rather than from two
// more clock readings (two vDSO calls, ~50 ns a request here). Zero reads
// the clock.
func (t *Target) Do(req *fasthttp.Request, resp *fasthttp.Response, extra []byte, now int64) error {
	hc := t.Client
	direct := Direct(req)
	if !direct {
		setHeaderLines(&req.Header, extra)
		if len(req.Header.Host()) == 0 {
			req.Header.SetHost(t.Addr)
			defer req.Header.SetHost("") // the next target's Do may get the request
		}
	}
	for attempt := 1; ; attempt++ {
		var retry bool
		var err error
		if attempt > 1 || now == 0 {
			now = deadline.Now()
		}
		if direct {
			retry, err = roundTrip(hc, req, resp, t.Addr, extra, now)
		} else {
			resp.StreamBody = hc.StreamResponseBody
			retry, err = fasthttp.DefaultTransport.RoundTrip(hc, req, resp)
			if err == nil {
				err = ownVersion(&resp.Header)
			}
		}
		if err == nil {
			return nil
		}
		if !retry || attempt >= hc.MaxIdemponentCallAttempts || req.IsBodyStream() || !idempotent(&req.Header) {
			if err == io.EOF {
				err = fasthttp.ErrConnectionClosed
			}
			return err
		}
	}
}

// Direct reports whether Do writes req's head itself (its body is in
// memory and it has no trailers), rather than through fasthttp's transport,
// where extra is set as headers and fasthttp serialises the head, cookies
// in its own rendering.
func Direct(req *fasthttp.Request) bool {
	return !req.IsBodyStream() && len(req.Header.PeekTrailerKeys()) == 0
}

// idempotent is fasthttp's rule for sending a request again.
func idempotent(h *fasthttp.RequestHeader) bool {
	return h.IsGet() || h.IsHead() || h.IsPut() || h.IsQuery()
}

// roundTrip is fasthttp's transport.RoundTrip (client.go, v1.78) for a
// request whose body is in memory: the same connection handling,
// deadlines, retry answers and errors, with the request written by
// writeRequest and the response read by readResponse.
func roundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, host string, extra []byte, now int64) (retry bool, err error) {
	cc, err := hc.AcquireConn(0, req.ConnectionClose())
	// A pooled connection that sat idle is checked first (no system call
	// otherwise): one the upstream wrote to or closed meanwhile is closed
	// and another taken.
	for err == nil && !idleUsable(cc.Conn(), cc.LastUseTime(), now) {
		hc.CloseConn(cc)
		cc, err = hc.AcquireConn(0, req.ConnectionClose())
	}
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	// The read deadline is armed before the write: writeRequest waits for
	// the answer with it (deadline.Conn.WriteAwait).
	if err = armTimeout(conn, hc.WriteTimeout, false, now); err == nil {
		err = armTimeout(conn, hc.ReadTimeout, true, now)
	}
	if err != nil {
		hc.CloseConn(cc)
		return true, err
	}
	if err = writeRequest(conn, req, host, extra, now); err != nil {
		hc.CloseConn(cc)
		if x, ok := err.(interface{ Timeout() bool }); ok && x.Timeout() {
			err = fasthttp.ErrTimeout
		}
		return true, err
	}
	// The read timeout counts from the end of the write. A request whose
	// body is at most the write buffer size went out in one or two writes,
	// which return at once unless the upstream has stopped reading (and are
	// then bounded by the write timeout); after a larger one the clock is
	// read again.
	if len(req.Body()) > hc.WriteBufferSize {
		if err = armTimeout(conn, hc.ReadTimeout, true, deadline.Now()); err != nil {
			hc.CloseConn(cc)
			return true, err
		}
	}
	if hc.DisableHeaderNamesNormalizing {
		resp.Header.DisableNormalizing()
	}
	br := hc.AcquireReader(conn)
	streamed, framed, err := readResponse(hc, br, req, resp)
	if err != nil {
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		// ErrBodyTooLarge would come back the same from another connection,
		// and so would a response refused as malformed.
		return err != fasthttp.ErrBodyTooLarge && !isMalformed(err), err
	}
	closeConn := !framed || req.ConnectionClose() || resp.ConnectionClose()
	if streamed != nil {
		streamed.release = func(reuse bool) { // one closure per streamed response
			// Bytes after the body's end were sent before any request
			// asked for them: the connection is not kept.
			reuse = reuse && !closeConn && br.Buffered() == 0
			hc.ReleaseReader(br)
			if reuse {
				hc.ReleaseConn(cc)
			} else {
				hc.CloseConn(cc)
			}
		}
		return false, nil
	}
	// As above: the reader goes with the exchange, and bytes left in it
	// with it, after which the next answer read on the connection would be
	// whatever the upstream sent next (response queue poisoning). (Not
	// folded into closeConn: the closure captures it, and a variable
	// assigned after that is moved to the heap.)
	leftover := br.Buffered() != 0
	hc.ReleaseReader(br)
	if closeConn || leftover {
		hc.CloseConn(cc)
	} else {
		hc.ReleaseConn(cc)
	}
	return false, nil
}

// idleCheck is how long a pooled connection may have been idle before
// roundTrip checks it (idleUsable) before use. The pool hands out the
// longest-idle connection first (FIFO), so a connection's idle time is
// about the pool's size over the request rate: at saturation on one core
// (~20 µs a request) even 512 connections come round within 10 ms, and pay
// nothing; at lower rates a connection pays a non-blocking MSG_PEEK
// (~0.6 µs, measured in README.md), which the spare CPU covers. 1 ms would
// have put the peek on most requests of the 64-connection benchmark.
var idleCheck = int64(20 * time.Millisecond)

// idleUsable reports whether conn, back in the pool since last (zero: a
// new connection), can take a request at now: it has not been idle for
// idleCheck, or it is still open and the upstream has sent nothing on it
// since (peerSent). Bytes there would be read as the answer to the next
// request; a closed connection would fail it, and a request that is not
// idempotent is not sent again.
func idleUsable(conn net.Conn, last time.Time, now int64) bool {
	if last.IsZero() || now-deadline.FromTime(last) < idleCheck {
		return true
	}
	return !peerSent(conn)
}

// armTimeout sets conn's read or write deadline d after now, a reading of
// deadline.Now (none for d <= 0). Plain-text targets' connections are
// deadline.Conns (see Registry.client), which take it on their own clock
// and only record it until the next Read or Write.
func armTimeout(conn net.Conn, d time.Duration, read bool, now int64) error {
	if d <= 0 {
		return nil
	}
	at := now + int64(d)
	if dc, ok := conn.(*deadline.Conn); ok {
		if read {
			dc.SetReadDeadlineAt(at)
		} else {
			dc.SetWriteDeadlineAt(at)
		}
		return nil
	}
	if read {
		return conn.SetReadDeadline(deadline.Time(at))
	}
	return conn.SetWriteDeadline(deadline.Time(at))
}

// smallResponse is the largest body of known length a streaming service's
// response is read whole: it is most likely in the read buffer already, and
// a stream costs more than the copy.
const smallResponse = 16 << 10

// maxInterim bounds the 1xx responses skipped before the final one
// (fasthttp: 100).
const maxInterim = 100

// readResponse reads the response head into resp and then its body whole,
// or, for a streaming service and a body of unknown length or over
// smallResponse, sets it to stream from br and returns the stream, which
// the caller completes with the connection to release.
//
// framed is false when the response was forwarded but its framing leaves
// what follows it on the connection unknown, which must then not be kept
// (RFC 9112 §6.3): Content-Length with Transfer-Encoding (item 3), a
// response that has no content announcing some (Content-Length on a 204,
// Transfer-Encoding on any; items 1-2), a 101; and, rarely, a chunked or
// HTTP/1.0 response whose head is no longer in the buffer to look at
// (headBytes). A response refused outright is an error (502): an
// HTTP-version other than 1.0 and 1.1, Transfer-Encoding in HTTP/1.0
// (§6.1), a 101 to a request that asked for no upgrade (RFC 9110
// §15.2.2), a status below 100, a head ended by bare LFs (which fasthttp
// would wait on until the read timeout).
func readResponse(hc *fasthttp.HostClient, br *bufio.Reader, req *fasthttp.Request, resp *fasthttp.Response) (sb *streamBody, framed bool, err error) {
	resp.ResetBody()
	resp.StreamBody = false
	// start views the buffer from where the final head begins (readHead).
	start, err := readHead(&resp.Header, br)
	if err != nil {
		return nil, false, err
	}
	for n := 0; ; n++ {
		st := resp.Header.StatusCode()
		if st < 100 || st > 199 || st == fasthttp.StatusSwitchingProtocols {
			break
		}
		if n >= maxInterim {
			return nil, false, errTooManyInterim
		}
		if start, err = readHead(&resp.Header, br); err != nil {
			return nil, false, err
		}
	}
	framed = true
	if !resp.Header.IsHTTP11() { // HTTP/1.0: readHead refused the others
		if raw := headBytes(start, br); raw == nil {
			framed = false // unknown whether Transfer-Encoding was there
		} else if hasField(raw, "transfer-encoding", 5) {
			return nil, false, errTE10
		}
		resp.Header.SetProtocol(http11) // see ownVersion
	}
	st := resp.Header.StatusCode()
	cl := resp.Header.ContentLength()
	if req.Header.IsHead() || st < 200 || st == fasthttp.StatusNoContent || st == fasthttp.StatusNotModified {
		resp.SkipBody = true // what fasthttp's mustSkipBody decides
		switch {
		case st < 100:
			return nil, false, errStatus
		case st == fasthttp.StatusSwitchingProtocols:
			if !askedUpgrade(&req.Header) {
				return nil, false, errSwitch
			}
			framed = false // the connection speaks another protocol now
		case cl == -1, cl > 0 && st == fasthttp.StatusNoContent:
			// Content announced where there is none (Transfer-Encoding, or
			// a length on a 204): whether the upstream sends it anyway is
			// unknown. Content-Length is legal on a response to HEAD and on
			// a 304 (the 200's length).
			framed = false
		}
		return nil, framed, nil
	}
	if cl == -1 {
		// fasthttp drops a Content-Length beside Transfer-Encoding.
		if raw := headBytes(start, br); raw == nil || hasField(raw, "content-length", 11) {
			framed = false // read by Transfer-Encoding, as it must be; not kept
		}
	}
	if !hc.StreamResponseBody || (cl >= 0 && cl <= smallResponse) {
		max := hc.MaxResponseBodySize
		if hc.StreamResponseBody {
			max = 0
		}
		if err := resp.ReadBody(br, max); err != nil {
			return nil, false, err
		}
		if cl == -1 {
			if err := resp.Header.ReadTrailer(br); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, false, err
			}
		}
		return nil, framed, nil
	}
	// fasthttp's response stream decodes the framing (length, chunks,
	// until close); it lives in a Response of its own, because closing it
	// releases it, and rc.Response's stream is replaced by one that also
	// hands the connection back.
	up := fasthttp.AcquireResponse()
	resp.Header.CopyTo(&up.Header)
	up.StreamBody = true
	if err := up.ReadBody(br, 0); err != nil {
		fasthttp.ReleaseResponse(up)
		return nil, false, err
	}
	sb = streamPool.Get().(*streamBody)
	sb.up, sb.resp = up, resp
	resp.SetBodyStream(sb, cl)
	return sb, framed, nil
}

// readHead reads one response head into h, as h.Read does, and refuses an
// HTTP-version other than HTTP/1.0 and HTTP/1.1 (fasthttp takes any
// HTTP/d.d) and a head ended by a bare LF, which fasthttp's reader never
// takes for the end: it would wait until the read timeout, and the client
// get a 504. That is checked when the status line ends in a bare LF
// (before the parse, a look at the first line of what the first read
// brought), and after a read error (the bytes are still buffered).
//
// It returns an empty view of br's buffer where the head began (see
// headBytes).
func readHead(h *fasthttp.ResponseHeader, br *bufio.Reader) ([]byte, error) {
	b, err := br.Peek(1)
	if len(b) == 0 { // as h.Read reports a failed first byte
		if x, ok := err.(interface{ Timeout() bool }); ok && x.Timeout() {
			return nil, fasthttp.ErrTimeout
		}
		return nil, io.EOF
	}
	b = b[:br.Buffered()] // all that is buffered (its capacity reaches the buffer's end)
	if i := bytes.IndexByte(b, '\n'); i > 0 && b[i-1] != '\r' && lfHead(b) {
		return nil, errBareLF
	}
	if err := h.Read(br); err != nil {
		if b, _ := br.Peek(br.Buffered()); lfHead(b) {
			return nil, errBareLF
		}
		return nil, err
	}
	if p := h.Protocol(); string(p) != "HTTP/1.1" && string(p) != "HTTP/1.0" {
		return nil, errVersion
	}
	return b[:0], nil
}

// headBytes returns the bytes of the head readHead read from start, the
// view it returned, or nil where they are not known: fasthttp drops what
// it ignores (Content-Length beside Transfer-Encoding, Transfer-Encoding
// in HTTP/1.0), and those few checks look at the head as received. The
// parse consumed the head from br's buffer, which keeps the bytes; they
// are still at start unless a refill slid the buffer under it, which
// bufio only does when data was consumed before (start is not at the
// buffer's beginning): after an interim response that came in the same
// read. Every exchange gets a reset reader, so a first head starts there.
func headBytes(start []byte, br *bufio.Reader) []byte {
	if cap(start) != br.Size() {
		return nil
	}
	rest, _ := br.Peek(0) // empty; its capacity reaches the buffer's end
	return start[:cap(start)-cap(rest)]
}

// ownVersion gives a response read by fasthttp's transport the gateway's
// own HTTP-version (RFC 9110 §6.2: fasthttp would write the upstream's to
// the client, "HTTP/1.0" with a chunked body where a stream has no length)
// and refuses a version other than HTTP/1.0 and HTTP/1.1.
func ownVersion(h *fasthttp.ResponseHeader) error {
	switch string(h.Protocol()) {
	case "HTTP/1.1":
		return nil
	case "HTTP/1.0":
		h.SetProtocol(http11)
		return nil
	}
	return errVersion
}

// lfHead reports whether the head at the start of b ends with a bare LF
// ("\n\n") before any CRLF CRLF.
func lfHead(b []byte) bool {
	i := bytes.Index(b, lflf)
	return i >= 0 && !bytes.Contains(b[:i+2], crlfcrlf)
}

// hasField reports whether head, a response head as received, has a field
// line named name (lower case; any case in head): the name at the start
// of a line, optional whitespace (which fasthttp strips), then a colon.
// It looks for name[k], a letter rare in heads ('g' of content-length),
// in either case with IndexByte, and at the name around each one found,
// which costs a fraction of going through the lines.
func hasField(head []byte, name string, k int) bool {
	return fieldAround(head, name, k, name[k]) || fieldAround(head, name, k, name[k]-'a'+'A')
}

func fieldAround(head []byte, name string, k int, c byte) bool {
	for i := k; i < len(head); {
		j := bytes.IndexByte(head[i:], c)
		if j < 0 {
			return false
		}
		s := i + j - k
		i += j + 1
		if s > 0 && head[s-1] != '\n' || len(head)-s <= len(name) || !strings.EqualFold(string(head[s:s+len(name)]), name) {
			continue
		}
		rest := head[s+len(name):]
		for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			rest = rest[1:]
		}
		if len(rest) > 0 && rest[0] == ':' {
			return true
		}
	}
	return false
}

// askedUpgrade reports whether h, a request as sent upstream, has an
// Upgrade field (the proxy removes the client's as hop-by-hop; a 101 to
// any other request is an error).
func askedUpgrade(h *fasthttp.RequestHeader) bool {
	for k := range h.All() {
		if bytes.EqualFold(k, upgrade) {
			return true
		}
	}
	return false
}

var (
	http11   = []byte("HTTP/1.1")
	lflf     = []byte("\n\n")
	crlfcrlf = []byte("\r\n\r\n")
	upgrade  = []byte("upgrade")
)

// malformedError is a response refused with a 502. It arrived whole, so
// the request is not sent again (fasthttp's retry is for a kept-alive
// connection that turned out closed).
type malformedError string

func (e malformedError) Error() string { return string(e) }

func isMalformed(err error) bool {
	_, ok := err.(malformedError)
	return ok
}

var (
	errTooManyInterim       = errors.New("upstream: too many interim (1xx) responses")
	errVersion        error = malformedError("upstream: response HTTP-version is neither HTTP/1.1 nor HTTP/1.0")
	errTE10           error = malformedError("upstream: Transfer-Encoding in an HTTP/1.0 response")
	errSwitch         error = malformedError("upstream: 101 Switching Protocols to a request without Upgrade")
	errStatus         error = malformedError("upstream: response status below 100")
	errBareLF         error = malformedError("upstream: response head ended by a bare LF")
)

// streamBody is a streamed response body: fasthttp's stream over the
// upstream connection, which goes back to the pool once the body was read
// to its end and the server closes the stream, or is closed otherwise (the
// client went away mid-body, the upstream broke off, the framing broke).
type streamBody struct {
	up      *fasthttp.Response // holds fasthttp's stream
	resp    *fasthttp.Response // the response the stream is the body of
	eof     bool
	err     error            // the first error other than io.EOF: see Read
	release func(reuse bool) // hands back the reader and the connection
	n       int64            // bytes read from the stream
	done    StreamDone       // see OnStreamDone
}

// StreamDone is told when a streamed response body has been written to the
// client (or abandoned): n bytes of it were read from the upstream, and
// complete says whether it was all of it and the write went well.
type StreamDone interface {
	StreamDone(n int64, complete bool)
}

// OnStreamDone arranges for d to be told when resp's body, streamed from
// the upstream by Target.Do, is finished with (fasthttp closes the stream
// once the server has written it, or when the response is reset). It
// reports false when resp's body is not such a stream (read whole, or from
// fasthttp's own transport): then nothing will be told.
func OnStreamDone(resp *fasthttp.Response, d StreamDone) bool {
	sb, ok := resp.BodyStream().(*streamBody)
	if ok {
		sb.done = d
	}
	return ok
}

var streamPool = sync.Pool{New: func() any { return new(streamBody) }}

// Read reads fasthttp's stream. An error other than io.EOF sticks: every
// later Read returns it and the body never counts as complete. fasthttp's
// chunked stream can return data with an error (ErrBrokenChunk after a
// chunk's data not followed by CRLF), which the server's chunked writer
// drops when it got data, and the stream's next Read may find a plausible
// end further on; the body would have been written whole and the
// connection kept, at an unknown place in what the upstream sent. The
// server's write fails instead, the client connection is closed with the
// response cut short, and so is the upstream one.
func (s *streamBody) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.up.BodyStream().Read(p)
	s.n += int64(n)
	switch {
	case err == nil:
	case err == io.EOF:
		if !s.eof {
			s.eof = true
			s.copyTrailers()
		}
	default:
		s.err = err
	}
	return n, err
}

// copyTrailers hands the trailer fields of a chunked body, which
// fasthttp's stream read into its own Response, to the response being
// written, before the server writes its trailer section.
func (s *streamBody) copyTrailers() {
	for _, k := range s.up.Header.PeekTrailerKeys() {
		if v := s.up.Header.PeekBytes(k); v != nil && s.resp.Header.AddTrailerBytes(k) == nil {
			s.resp.Header.SetBytesKV(k, v)
		}
	}
}

// CloseWithError releases the upstream connection (to the pool only after
// a whole body and no write error) and the stream. fasthttp calls it once
// the server has written the body (err is the write's error) or the
// response is reset.
func (s *streamBody) CloseWithError(err error) error {
	if err != nil || s.err != nil {
		s.eof = false
	}
	s.up.ResetBody() // closes and releases fasthttp's stream
	fasthttp.ReleaseResponse(s.up)
	s.release(s.eof)
	if s.done != nil {
		s.done.StreamDone(s.n, s.eof)
	}
	*s = streamBody{}
	streamPool.Put(s)
	return nil
}

// writeRequest writes req (its body in memory) with a Host line for host if
// req has none, and extra, before the blank line that ends its head. The
// framing is Request.Write's: a body, or any method but GET and HEAD, gets
// its Content-Length. now is the caller's reading of deadline.Now.
func writeRequest(conn net.Conn, req *fasthttp.Request, host string, extra []byte, now int64) error {
	h := &req.Header
	// A filter may have parsed the URI (and edited it): RequestURI then
	// sets the request line rebuilt from it, as Request.Write would;
	// otherwise the line is the one the proxy set.
	req.RequestURI()
	body := req.Body()
	if len(body) != 0 || !(h.IsGet() || h.IsHead()) {
		h.SetContentLength(len(body))
	}
	// The head is serialised straight into a pooled buffer with extra and
	// a small body after it, and written with one call: through a
	// bufio.Writer (HostClient's) it was copied once more, and that copy
	// was most of the time writeRequest took under load.
	bp := headBufs.Get().(*[]byte)
	defer headBufs.Put(bp)
	b := h.AppendBytes((*bp)[:0]) // ends with the blank line
	if len(b) < 4 {
		return errShortHead
	}
	b = b[:len(b)-2]
	if len(h.Host()) == 0 {
		b = append(b, "Host: "...)
		b = append(b, host...)
		b = append(b, "\r\n"...)
	}
	b = append(b, extra...)
	b = append(b, "\r\n"...)
	inline := len(body) <= inlineBody
	if inline {
		b = append(b, body...)
	}
	if cap(b) <= maxHeadBuf {
		*bp = b[:0]
	}
	// The request's last write waits for the answer on a plain connection
	// (WriteAwait), so that reading it takes one system call, not an
	// EAGAIN first.
	dc, await := conn.(*deadline.Conn)
	if inline {
		if await {
			_, err := dc.WriteAwait(b, now)
			return err
		}
		_, err := conn.Write(b)
		return err
	}
	if _, err := conn.Write(b); err != nil {
		return err
	}
	if await {
		_, err := dc.WriteAwait(body, now)
		return err
	}
	_, err := conn.Write(body)
	return err
}

// A body up to inlineBody bytes is copied after the head and written with
// it; a larger one is written from where it is. Buffers that grew past
// maxHeadBuf are not kept.
const (
	inlineBody = 4 << 10
	maxHeadBuf = 64 << 10
)

var headBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

var errShortHead = errors.New("upstream: request head too short to send")

// setHeaderLines sets each "Name: value\r\n" line of lines as a header of h.
func setHeaderLines(h *fasthttp.RequestHeader, lines []byte) {
	for len(lines) > 0 {
		i := bytes.Index(lines, crlf)
		if i < 0 {
			i = len(lines)
		}
		line := lines[:i]
		lines = lines[min(i+2, len(lines)):]
		if name, value, ok := bytes.Cut(line, colonSpace); ok {
			h.SetCanonical(name, value)
		}
	}
}

var (
	crlf       = []byte("\r\n")
	colonSpace = []byte(": ")
)
