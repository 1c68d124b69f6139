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
	"bytes"
	"fmt"
	"io"
	"log/slog"
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
	path      string
	queue     chan *Entry
	dropped   atomic.Uint64
	written   atomic.Uint64
	writeErrs atomic.Uint64
	reopen    chan struct{}
	done      chan struct{}
	closed    atomic.Bool
	ext       *Extras
	mDrop     *metrics.Counter
	errLog    *slog.Logger

	mu   sync.Mutex // guards next
	next *output    // opened by Reopen, taken by the writer

	// Owned by the writer goroutine (and Close after it ended).
	out      *output
	buf      []byte // complete lines not yet written
	lines    int    // lines in buf
	lastErr  time.Time
	lostErrs uint64 // lines lost since the last logged error
}

// output is where lines go. regular: a regular file, where a line left
// partial by a failed write is ended before the next one (midLine).
type output struct {
	w       io.WriteCloser
	regular bool
	midLine bool
}

// flushSize is how many bytes of lines are buffered before a write.
const flushSize = 64 << 10

// ErrorLogEvery is the minimum interval between two logged write errors;
// the lines lost in between are counted and reported with the next one.
const ErrorLogEvery = 10 * time.Second

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
	out, err := open(o.Path)
	if err != nil {
		return nil, err
	}
	return start(o, ext, out), nil
}

// start starts the writer of a logger writing to out.
func start(o Options, ext *Extras, out *output) *Logger {
	if o.Buffer <= 0 {
		o.Buffer = 8192
	}
	errLog := o.ErrorLog
	if errLog == nil {
		errLog = slog.Default()
	}
	l := &Logger{path: o.Path, queue: make(chan *Entry, o.Buffer), reopen: make(chan struct{}, 1), done: make(chan struct{}),
		out: out, ext: ext, mDrop: o.Dropped, errLog: errLog, buf: make([]byte, 0, flushSize+4096)}
	go l.run()
	return l
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func open(path string) (*output, error) {
	switch path {
	case "stdout":
		return &output{w: nopCloser{os.Stdout}}, nil
	case "stderr":
		return &output{w: nopCloser{os.Stderr}}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	out := &output{w: f}
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		out.regular = true
		out.midLine = endsMidLine(path, fi.Size())
	}
	return out, nil
}

// endsMidLine reports whether the file at path, of size bytes, ends with
// a partial line (left by a failed write, before a restart or a reopen).
func endsMidLine(path string, size int64) bool {
	if size == 0 {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], size-1); err != nil {
		return false
	}
	return b[0] != '\n'
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
		l.drop(1)
		e.reset()
		entryPool.Put(e)
	}
}

func (l *Logger) drop(n int) {
	l.dropped.Add(uint64(n))
	if l.mDrop != nil {
		l.mDrop.Add(n)
	}
}

// Dropped returns how many lines were lost: dropped because the queue was
// full, or not (completely) written because a write failed.
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// Written returns how many lines were written.
func (l *Logger) Written() uint64 { return l.written.Load() }

// WriteErrors returns how many writes to the output failed.
func (l *Logger) WriteErrors() uint64 { return l.writeErrs.Load() }

// Reopen reopens a file output (for logrotate): it opens the path again and
// hands the new file to the writer, which switches to it between lines.
// When the path cannot be opened, lines keep going to the old file; the
// error is returned and logged to Options.ErrorLog. Safe for concurrent
// use; it does not wait for the writer.
func (l *Logger) Reopen() error {
	if l.path == "stdout" || l.path == "stderr" || l.closed.Load() {
		return nil
	}
	out, err := open(l.path)
	if err != nil {
		err = fmt.Errorf("accesslog: cannot reopen %s, lines go on to the old file: %w", l.path, err)
		l.errLog.Error("access log not reopened; it goes on where it was", "path", l.path, "err", err)
		return err
	}
	l.mu.Lock()
	if l.next != nil {
		l.next.w.Close()
	}
	l.next = out
	l.mu.Unlock()
	select {
	case l.reopen <- struct{}{}:
	default:
	}
	return nil
}

// Close flushes queued entries and stops the writer.
func (l *Logger) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	close(l.queue)
	<-l.done
	l.mu.Lock()
	if l.next != nil {
		l.next.w.Close()
		l.next = nil
	}
	l.mu.Unlock()
	return l.out.w.Close()
}

func (l *Logger) run() {
	defer close(l.done)
	for {
		select {
		case e, ok := <-l.queue:
			if !ok {
				l.flush()
				return
			}
			l.buf = AppendJSON(l.buf, e)
			l.buf = append(l.buf, '\n')
			l.lines++
			e.reset()
			entryPool.Put(e)
			if len(l.buf) >= flushSize || len(l.queue) == 0 {
				l.flush()
			}
		case <-l.reopen:
			l.flush()
			l.mu.Lock()
			next := l.next
			l.next = nil
			l.mu.Unlock()
			if next != nil {
				l.out.w.Close()
				l.out = next
			}
		}
	}
}

var newline = []byte{'\n'}

// flush writes the buffered lines. A failed write does not stop the
// logger: the lines not completely written are counted as dropped, the
// error is logged (at most once per ErrorLogEvery) and the next flush
// tries again, on a new line if the failed write left a partial one in a
// regular file.
func (l *Logger) flush() {
	if len(l.buf) == 0 {
		return
	}
	out := l.out
	var err error
	if out.midLine && out.regular {
		if _, err = out.w.Write(newline); err == nil {
			out.midLine = false
		}
	}
	n := 0
	if err == nil {
		n, err = out.w.Write(l.buf)
		if err == nil && n < len(l.buf) {
			err = io.ErrShortWrite
		}
	}
	done := bytes.Count(l.buf[:n], newline)
	l.written.Add(uint64(done))
	if err != nil {
		if n > 0 && l.buf[n-1] != '\n' {
			out.midLine = true
		}
		l.writeFailed(l.lines-done, err)
	}
	l.buf = l.buf[:0]
	l.lines = 0
}

func (l *Logger) writeFailed(lost int, err error) {
	l.writeErrs.Add(1)
	l.drop(lost)
	l.lostErrs += uint64(lost)
	now := time.Now()
	if !l.lastErr.IsZero() && now.Sub(l.lastErr) < ErrorLogEvery {
		return
	}
	l.lastErr = now
	l.errLog.Error("access log write failed; lines lost", "path", l.path, "err", err,
		"lost_lines", l.lostErrs, "write_errors", l.writeErrs.Load())
	l.lostErrs = 0
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
