package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
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
// (see streamBody).
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
	streamed, err := readResponse(hc, br, req, resp)
	if err != nil {
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		// ErrBodyTooLarge would come back the same from another connection.
		return err != fasthttp.ErrBodyTooLarge, err
	}
	closeConn := req.ConnectionClose() || resp.ConnectionClose()
	if streamed != nil {
		streamed.release = func(reuse bool) { // one closure per streamed response
			hc.ReleaseReader(br)
			if reuse && !closeConn {
				hc.ReleaseConn(cc)
			} else {
				hc.CloseConn(cc)
			}
		}
		return false, nil
	}
	hc.ReleaseReader(br)
	if closeConn {
		hc.CloseConn(cc)
	} else {
		hc.ReleaseConn(cc)
	}
	return false, nil
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
func readResponse(hc *fasthttp.HostClient, br *bufio.Reader, req *fasthttp.Request, resp *fasthttp.Response) (*streamBody, error) {
	resp.ResetBody()
	resp.StreamBody = false
	if err := resp.Header.Read(br); err != nil {
		return nil, err
	}
	for n := 0; ; n++ {
		st := resp.Header.StatusCode()
		if st < 100 || st > 199 || st == fasthttp.StatusSwitchingProtocols {
			break
		}
		if n >= maxInterim {
			return nil, errTooManyInterim
		}
		if err := resp.Header.Read(br); err != nil {
			return nil, err
		}
	}
	st := resp.Header.StatusCode()
	if req.Header.IsHead() || st < 200 || st == fasthttp.StatusNoContent || st == fasthttp.StatusNotModified {
		resp.SkipBody = true // what fasthttp's mustSkipBody decides
		return nil, nil
	}
	cl := resp.Header.ContentLength()
	if !hc.StreamResponseBody || (cl >= 0 && cl <= smallResponse) {
		max := hc.MaxResponseBodySize
		if hc.StreamResponseBody {
			max = 0
		}
		if err := resp.ReadBody(br, max); err != nil {
			return nil, err
		}
		if cl == -1 {
			if err := resp.Header.ReadTrailer(br); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
		}
		return nil, nil
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
		return nil, err
	}
	sb := streamPool.Get().(*streamBody)
	sb.up, sb.resp = up, resp
	resp.SetBodyStream(sb, cl)
	return sb, nil
}

var errTooManyInterim = errors.New("upstream: too many interim (1xx) responses")

// streamBody is a streamed response body: fasthttp's stream over the
// upstream connection, which goes back to the pool once the body was read
// to its end and the server closes the stream, or is closed otherwise (the
// client went away mid-body, the upstream broke off).
type streamBody struct {
	up      *fasthttp.Response // holds fasthttp's stream
	resp    *fasthttp.Response // the response the stream is the body of
	eof     bool
	release func(reuse bool) // hands back the reader and the connection
}

var streamPool = sync.Pool{New: func() any { return new(streamBody) }}

func (s *streamBody) Read(p []byte) (int, error) {
	n, err := s.up.BodyStream().Read(p)
	if err == io.EOF && !s.eof {
		s.eof = true
		s.copyTrailers()
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
	if err != nil {
		s.eof = false
	}
	s.up.ResetBody() // closes and releases fasthttp's stream
	fasthttp.ReleaseResponse(s.up)
	s.release(s.eof)
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
