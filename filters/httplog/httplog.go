// Package httplog is Kong's `http-log` plugin: after each request it ships a
// JSON description of the request and response (Kong's entry shape) to an
// HTTP collector.
//
// The request path only copies what an entry needs into a pooled entry and
// hands it to a bounded queue without blocking (Log allocates nothing in
// steady state). A background worker per plugin instance batches entries,
// POSTs them with a fasthttp client (TLS verified, unlike Kong) and retries
// with exponential backoff. When the collector is slow or down the queue
// fills; then the oldest entries are dropped and counted in
// edgeguard_http_log_dropped_total{plugin}. Requests are never slowed.
//
// The worker is shared across config reloads through filters.Env.Shared
// (keyed by the instance name and its transport and queue settings) and
// reference counted: every Filter built on it holds a reference released by
// Close. When the last reference goes (shutdown, or a reload that removed
// or changed the instance), the worker flushes its queue (bounded in time)
// and stops; it starts again if a later config uses it.
//
// Secrets: Authorization, Proxy-Authorization, Cookie and Set-Cookie values
// (and those of redact_headers) are written as "REDACTED"; custom_fields
// templates may not read them. So are the values of the redact_query
// parameters (jwt, access_token, token, api_key, apikey by default) in the
// URI, URL, query string and upstream URI. Request headers are logged as
// the client sent them (RawHeaders), for proxied and rejected requests alike.
package httplog

import (
	"bytes"
	"io"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

func init() {
	filters.Register(&filters.Plugin{Name: Name, New: New})
}

// New builds an http-log filter from its config node (see Config).
func New(cfg confnode.Node, env *filters.Env) (filters.Filter, error) {
	s, lay := parse(cfg, env)
	if s == nil {
		return nil, nil
	}
	shared := env.Shared
	if shared == nil {
		shared = filters.NewShared()
	}
	w := shared.Get(s.key(), func() any { return newWorker(s, env) }).(*worker)
	w.acquire()
	return &Filter{w: w, lay: lay}, nil
}

// Filter is one http-log instance. Access always continues; Log queues the
// entry. It is safe for concurrent use.
type Filter struct {
	w    *worker
	lay  *layout
	once sync.Once
}

// Access does nothing: http-log only observes.
func (f *Filter) Access(*filters.Ctx) filters.Verdict { return filters.Continue }

// Log copies the request's log data into a pooled entry and queues it. It
// never blocks and allocates nothing once the pool is warm.
func (f *Filter) Log(c *filters.Ctx) {
	e := entryPool.Get().(*entry)
	e.fill(c, f.lay, time.Now())
	f.w.enqueue(e)
}

// Close releases the filter's reference to the shared worker; the last
// reference flushes the queue (see package doc) before Close returns.
func (f *Filter) Close() error {
	f.once.Do(f.w.release)
	return nil
}

// Stats are the counters of an instance's worker.
type Stats struct {
	Queued, Sent, Dropped, SendErrors uint64
}

// Stats returns the worker's counters.
func (f *Filter) Stats() Stats { return f.w.stats() }

// span is a part of entry.buf.
type span struct{ off, n int32 }

func (s span) of(b []byte) []byte { return b[s.off : s.off+s.n] }

// maxHeaderBytes caps the copied request and response header blocks (cut
// at a line end); maxField caps URI parts.
const (
	maxHeaderBytes = 8 << 10
	maxField       = 4 << 10
	maxCustom      = 64
)

// entry is one request's log data, owned by the queue once enqueued.
type entry struct {
	lay               *layout
	start             time.Time
	total, upstream   time.Duration
	proxied           bool
	tls               bool
	status            int
	reqSize, respSize int64
	route, service    string
	consumer          *filters.Consumer
	clientIP          netip.Addr
	rejectedBy        string
	reason            string
	upstreamErr       string
	upstreamStatus    int

	buf                                   []byte
	id, method, host, path, query, upPath span
	reqHdr, respHdr                       []byte // header lines; respHdr starts with the status line
	custom                                [maxCustom]span
	customOK                              uint64
	bytes                                 int64 // accounted size while queued
}

var entryPool = sync.Pool{New: func() any {
	return &entry{buf: make([]byte, 0, 1024), reqHdr: make([]byte, 0, 1024), respHdr: make([]byte, 0, 512)}
}}

func releaseEntry(e *entry) {
	e.lay, e.consumer = nil, nil
	e.route, e.service, e.rejectedBy, e.reason, e.upstreamErr = "", "", "", "", ""
	entryPool.Put(e)
}

func (e *entry) add(b []byte) span {
	if len(b) > maxField {
		b = b[:maxField]
	}
	off := len(e.buf)
	e.buf = append(e.buf, b...)
	return span{int32(off), int32(len(b))}
}

// addQuery adds the query string with redacted values (see
// appendRedactedQuery), so that no part of the entry holds them.
func (e *entry) addQuery(q []byte, lay *layout) span {
	off := len(e.buf)
	e.buf = appendRedactedQuery(e.buf, q, lay)
	if len(e.buf)-off > maxField {
		e.buf = e.buf[:off+maxField]
	}
	return span{int32(off), int32(len(e.buf) - off)}
}

// fill copies what the entry needs from c; nothing of c is referenced
// afterwards except immutable config (route/service names, consumer).
func (e *entry) fill(c *filters.Ctx, lay *layout, now time.Time) {
	rc := c.RC
	req, resp := &rc.Request, &rc.Response
	e.lay = lay
	e.start = c.Start
	e.total = now.Sub(c.Start)
	e.upstream = c.UpstreamDur
	e.proxied = c.UpstreamStatus != 0 || c.UpstreamDur > 0
	e.upstreamStatus = c.UpstreamStatus
	e.tls = rc.IsTLS()
	e.status = resp.StatusCode()
	e.route, e.service, e.consumer = c.Route, c.Service, c.Consumer
	e.clientIP = c.ClientIP
	e.rejectedBy, e.reason, e.upstreamErr = c.RejectedBy, c.RejectReason, c.UpstreamError

	e.buf = e.buf[:0]
	e.id = e.add(c.RequestID)
	e.method = e.add(req.Header.Method())
	host := c.Host // the client's, once the request was forwarded
	if len(host) == 0 {
		host = req.Header.Host()
	}
	e.host = e.add(host)
	u := c.URI()
	if len(c.Path) > 0 {
		e.path = e.add(c.Path)
	} else {
		e.path = e.add(u.PathOriginal())
	}
	e.query = e.addQuery(u.QueryString(), lay)
	e.upPath = e.add(u.PathOriginal())

	// The header blocks are rendered into a pooled scratch buffer and only
	// their first maxHeaderBytes copied into the entry: appending a large
	// block to the entry and cutting it afterwards would leave the entry
	// holding (and the pool keeping) the capacity of the whole block.
	sc := scratchPool.Get().(*[]byte)
	// The request headers are logged as the client sent them, whether the
	// request was proxied or rejected: forwarding rewrites Host, moves
	// Cookie out of the header and removes hop-by-hop headers such as
	// Proxy-Authorization. reqHdr holds header lines only (no request line).
	if raw := req.Header.RawHeaders(); len(raw) > 0 {
		e.reqSize = int64(len(raw) + len(req.Header.Method()) + len(c.Path) + len(u.QueryString()) + len(" ?  HTTP/1.1\r\n"))
		e.reqHdr = append(e.reqHdr[:0], capLines(raw)...)
	} else { // not parsed from the wire (a request built in a test)
		*sc = req.Header.AppendBytes((*sc)[:0])
		e.reqSize = int64(len(*sc))
		e.reqHdr = append(e.reqHdr[:0], capLines(afterLine(*sc))...)
	}
	// ResponseHeader.AppendBytes overwrites its dst.
	*sc = resp.Header.AppendBytes((*sc)[:0])
	e.respSize = int64(len(*sc))
	e.respHdr = append(e.respHdr[:0], capLines(*sc)...)
	if cap(*sc) > maxScratch {
		*sc = make([]byte, 0, 4<<10)
	}
	scratchPool.Put(sc)
	in := int64(req.Header.ContentLength())
	if in < 0 {
		in = 0
	}
	e.reqSize += in
	out := int64(resp.Header.ContentLength())
	if resp.BodyStream() == nil {
		out = int64(len(resp.Body()))
	}
	if out < 0 {
		out = 0
	}
	e.respSize += out

	e.customOK = 0
	if lay != nil {
		for i, fl := range lay.fields {
			off := len(e.buf)
			var ok bool
			e.buf, ok = fl.tpl.AppendRender(e.buf, c)
			if n := len(e.buf) - off; n > maxField {
				e.buf = e.buf[:off+maxField]
			}
			e.custom[i] = span{int32(off), int32(len(e.buf) - off)}
			if ok {
				e.customOK |= 1 << i
			}
		}
	}
	e.bytes = e.held()
}

// entryOverhead is the accounted size of an entry besides its buffers.
const entryOverhead = int64(unsafe.Sizeof(entry{}))

// held is the memory e holds: its struct and the capacity (not the length)
// of its buffers, which is what stays allocated while it is queued.
func (e *entry) held() int64 {
	return entryOverhead + int64(cap(e.buf)+cap(e.reqHdr)+cap(e.respHdr))
}

// maxScratch bounds the header scratch buffer kept in scratchPool.
const maxScratch = 64 << 10

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// afterLine returns b after its first line.
func afterLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return nil
}

// capLines cuts a header block longer than maxHeaderBytes at a line end.
func capLines(b []byte) []byte {
	if len(b) <= maxHeaderBytes {
		return b
	}
	b = b[:maxHeaderBytes]
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return b[:i+1]
		}
	}
	return b[:0]
}

var (
	_ filters.Filter    = (*Filter)(nil)
	_ filters.LogFilter = (*Filter)(nil)
	_ io.Closer         = (*Filter)(nil)
)
