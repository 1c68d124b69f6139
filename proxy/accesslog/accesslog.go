// Package accesslog writes one JSON object per request, off the request
// path. The request path fills a pooled Entry (copying the few byte fields
// it needs) and hands it to a bounded queue; a single writer goroutine
// encodes and writes lines in batches. When the queue is full, entries are
// dropped and counted rather than slowing requests. Steady state allocates
// nothing per request.
//
// Output is stdout, stderr or a file; a file is reopened on Reopen (wired
// to SIGUSR1 for logrotate).
//
// Options add configured request headers (under "headers", lower-case
// names) and custom fields rendered from templates (`user_id:
// "$(jwt.sub)"`, package filters/template). Authorization,
// Proxy-Authorization, Cookie and Options.RedactHeaders are written as
// "REDACTED", and a custom field may not read them. The handler calls
// Logger.Capture on the request path (it renders the templates into the
// entry's own buffer); encoding happens in the writer goroutine.
package accesslog

import (
	"bufio"
	"io"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/edgeguard/edgeguard/filters"
)

// Entry is one request's log record. Byte fields are owned by the entry.
// String fields must be immutable strings (config names, constants).
type Entry struct {
	Time        time.Time
	RequestID   []byte
	ClientIP    netip.Addr
	Method      []byte
	Host        []byte
	Path        []byte
	UserAgent   []byte
	Status      int
	BytesIn     int64
	BytesOut    int64
	Route       string
	Service     string
	Consumer    string
	RejectedBy  string
	Reason      string
	Upstream    string // target address, if proxied
	UpstreamErr string
	// Latencies in microseconds.
	GatewayUS, UpstreamUS, TotalUS int64

	// Configured request headers and custom fields, filled by
	// Logger.Capture: values live in extra, described by vals in the order
	// of the Logger's Extras (headers first, then fields).
	ext   *Extras
	extra []byte
	vals  [maxExtras]extraVal
}

// extraVal is one captured header or custom field value.
type extraVal struct {
	off, n int32
	state  uint8 // valAbsent, valPresent, valRedacted
}

const (
	valAbsent uint8 = iota
	valPresent
	valRedacted
)

const maxField = 2048

func (e *Entry) reset() {
	*e = Entry{RequestID: e.RequestID[:0], Method: e.Method[:0], Host: e.Host[:0], Path: e.Path[:0], UserAgent: e.UserAgent[:0],
		extra: e.extra[:0]}
}

// SetBytes copies src into *dst, truncated to a sane length.
func SetBytes(dst *[]byte, src []byte) {
	if len(src) > maxField {
		src = src[:maxField]
	}
	*dst = append((*dst)[:0], src...)
}

var entryPool = sync.Pool{New: func() any { return new(Entry) }}

// Logger is an asynchronous JSON line writer. It is safe for concurrent use.
type Logger struct {
	path    string
	queue   chan *Entry
	dropped atomic.Uint64
	written atomic.Uint64
	reopen  chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	mu      sync.Mutex // guards out during reopen
	out     io.WriteCloser
	ext     *Extras
	mDrop   *metrics.Counter
}

// New opens path ("stdout", "stderr" or a file, appended to) and starts the
// writer with a queue of size entries.
func New(path string, size int) (*Logger, error) {
	return NewWithOptions(Options{Path: path, Buffer: size})
}

// NewWithOptions is New with configured headers, redaction and custom
// fields. Invalid options are an error listing every problem (check them
// at config load with CheckOptions).
func NewWithOptions(o Options) (*Logger, error) {
	ext, probs := compileExtras(o)
	if len(probs) > 0 {
		return nil, problemsError(probs)
	}
	if o.Buffer <= 0 {
		o.Buffer = 8192
	}
	out, err := open(o.Path)
	if err != nil {
		return nil, err
	}
	l := &Logger{path: o.Path, queue: make(chan *Entry, o.Buffer), reopen: make(chan struct{}, 1), done: make(chan struct{}), out: out, ext: ext, mDrop: o.Dropped}
	go l.run()
	return l, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func open(path string) (io.WriteCloser, error) {
	switch path {
	case "stdout":
		return nopCloser{os.Stdout}, nil
	case "stderr":
		return nopCloser{os.Stderr}, nil
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
}

// Acquire returns an empty Entry to fill and pass to Submit.
func (l *Logger) Acquire() *Entry { return entryPool.Get().(*Entry) }

// Submit queues e; it never blocks. The logger owns e afterwards.
func (l *Logger) Submit(e *Entry) {
	if l.closed.Load() {
		e.reset()
		entryPool.Put(e)
		return
	}
	select {
	case l.queue <- e:
	default:
		l.dropped.Add(1)
		if l.mDrop != nil {
			l.mDrop.Inc()
		}
		e.reset()
		entryPool.Put(e)
	}
}

// Dropped returns how many entries were dropped because the queue was full.
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// Written returns how many lines were written.
func (l *Logger) Written() uint64 { return l.written.Load() }

// Reopen asks the writer to reopen a file output (for logrotate).
func (l *Logger) Reopen() {
	select {
	case l.reopen <- struct{}{}:
	default:
	}
}

// Close flushes queued entries and stops the writer.
func (l *Logger) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	close(l.queue)
	<-l.done
	return l.out.Close()
}

func (l *Logger) run() {
	defer close(l.done)
	w := bufio.NewWriterSize(l.out, 64<<10)
	buf := make([]byte, 0, 4096)
	for {
		select {
		case e, ok := <-l.queue:
			if !ok {
				w.Flush()
				return
			}
			buf = AppendJSON(buf[:0], e)
			buf = append(buf, '\n')
			e.reset()
			entryPool.Put(e)
			w.Write(buf)
			l.written.Add(1)
			if len(l.queue) == 0 {
				w.Flush()
			}
		case <-l.reopen:
			w.Flush()
			if l.path != "stdout" && l.path != "stderr" {
				if out, err := open(l.path); err == nil {
					l.out.Close()
					l.out = out
					w.Reset(out)
				}
			}
		}
	}
}

// AppendJSON appends e as a JSON object.
func AppendJSON(b []byte, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, `","request_id":`...)
	b = filters.AppendJSONString(b, b2s(e.RequestID))
	b = append(b, `,"client_ip":"`...)
	b = e.ClientIP.AppendTo(b)
	b = append(b, `","method":`...)
	b = filters.AppendJSONString(b, b2s(e.Method))
	b = append(b, `,"host":`...)
	b = filters.AppendJSONString(b, b2s(e.Host))
	b = append(b, `,"path":`...)
	b = filters.AppendJSONString(b, b2s(e.Path))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	b = appendStr(b, "route", e.Route)
	b = appendStr(b, "service", e.Service)
	b = appendStr(b, "consumer", e.Consumer)
	b = appendStr(b, "upstream", e.Upstream)
	b = appendStr(b, "upstream_error", e.UpstreamErr)
	b = appendStr(b, "rejected_by", e.RejectedBy)
	b = appendStr(b, "reason", e.Reason)
	b = append(b, `,"latency_ms":{"gateway":`...)
	b = appendMS(b, e.GatewayUS)
	b = append(b, `,"upstream":`...)
	b = appendMS(b, e.UpstreamUS)
	b = append(b, `,"total":`...)
	b = appendMS(b, e.TotalUS)
	b = append(b, `},"user_agent":`...)
	b = filters.AppendJSONString(b, b2s(e.UserAgent))
	if e.ext != nil {
		b = e.ext.appendJSON(b, e)
	}
	return append(b, '}')
}

func appendStr(b []byte, k, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return filters.AppendJSONString(b, v)
}

func appendMS(b []byte, us int64) []byte {
	return strconv.AppendFloat(b, float64(us)/1000, 'f', 3, 64)
}
