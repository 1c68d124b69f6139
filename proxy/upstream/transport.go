package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
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
// A request whose body is a stream (or has trailers), and every request of
// a service that streams its responses, goes through fasthttp's own
// transport instead, with extra set as headers: fasthttp's response streams
// hand the connection back to the pool when the server has written them,
// which only its transport can arrange.
//
// Like HostClient.Do, an exchange that failed on a kept-alive connection the
// upstream had closed is tried once more on another connection when the
// request is idempotent and its body is not a stream.
func (t *Target) Do(req *fasthttp.Request, resp *fasthttp.Response, extra []byte) error {
	hc := t.Client
	direct := !hc.StreamResponseBody && !req.IsBodyStream() && len(req.Header.PeekTrailerKeys()) == 0
	if !direct {
		setHeaderLines(&req.Header, extra)
	}
	for attempt := 1; ; attempt++ {
		var retry bool
		var err error
		if direct {
			retry, err = roundTrip(hc, req, resp, extra)
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

// idempotent is fasthttp's rule for sending a request again.
func idempotent(h *fasthttp.RequestHeader) bool {
	return h.IsGet() || h.IsHead() || h.IsPut() || h.IsQuery()
}

// roundTrip is fasthttp's transport.RoundTrip (client.go, v1.78) for a
// request whose body is in memory and a response read whole: the same
// connection handling, deadlines, retry answers and errors, with the
// request written by writeRequest.
func roundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, extra []byte) (retry bool, err error) {
	cc, err := hc.AcquireConn(0, req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	dc, _ := conn.(*deadline.Conn) // plain-text targets (see Registry.client)
	if hc.WriteTimeout > 0 {
		if dc != nil {
			dc.SetWriteTimeout(hc.WriteTimeout)
		} else if err = conn.SetWriteDeadline(time.Now().Add(hc.WriteTimeout)); err != nil {
			hc.CloseConn(cc)
			return true, err
		}
	}
	bw := hc.AcquireWriter(conn)
	err = writeRequest(bw, req, extra)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		hc.CloseConn(cc)
		if x, ok := err.(interface{ Timeout() bool }); ok && x.Timeout() {
			err = fasthttp.ErrTimeout
		}
		return true, err
	}
	if hc.ReadTimeout > 0 {
		if dc != nil {
			dc.SetReadTimeout(hc.ReadTimeout)
		} else if err = conn.SetReadDeadline(time.Now().Add(hc.ReadTimeout)); err != nil {
			hc.CloseConn(cc)
			return true, err
		}
	}
	resp.StreamBody = false
	if req.Header.IsHead() {
		resp.SkipBody = true
	}
	if hc.DisableHeaderNamesNormalizing {
		resp.Header.DisableNormalizing()
	}
	br := hc.AcquireReader(conn)
	err = resp.ReadLimitBody(br, hc.MaxResponseBodySize)
	hc.ReleaseReader(br)
	if err != nil {
		hc.CloseConn(cc)
		// ErrBodyTooLarge would come back the same from another connection.
		return err != fasthttp.ErrBodyTooLarge, err
	}
	if req.ConnectionClose() || resp.ConnectionClose() {
		hc.CloseConn(cc)
	} else {
		hc.ReleaseConn(cc)
	}
	return false, nil
}

// writeRequest writes req (its body in memory) with extra before the blank
// line that ends its head. The framing is Request.Write's: a body, or any
// method but GET and HEAD, gets its Content-Length.
func writeRequest(bw *bufio.Writer, req *fasthttp.Request, extra []byte) error {
	h := &req.Header
	// A filter may have parsed the URI (and edited it): the request line is
	// then rebuilt from it, as Request.Write would; otherwise this is the
	// line as the proxy set it.
	h.SetRequestURIBytes(req.RequestURI())
	body := req.Body()
	if len(body) != 0 || !(h.IsGet() || h.IsHead()) {
		h.SetContentLength(len(body))
	}
	head := h.Header() // ends with the blank line
	if len(head) < 4 {
		return errShortHead
	}
	if _, err := bw.Write(head[:len(head)-2]); err != nil {
		return err
	}
	if _, err := bw.Write(extra); err != nil {
		return err
	}
	if _, err := bw.WriteString("\r\n"); err != nil {
		return err
	}
	_, err := bw.Write(body)
	return err
}

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
