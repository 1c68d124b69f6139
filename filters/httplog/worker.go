package httplog

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
)

// closeBudget bounds how long the last Close spends flushing the queue to
// a collector that is slow or down; what is left then is dropped (counted).
const closeBudget = 5 * time.Second

// worker owns an instance's queue and its sender goroutines.
type worker struct {
	s      *settings
	log    *slog.Logger
	client *fasthttp.HostClient
	queue  chan *entry
	bytes  atomic.Int64 // bytes held by queued entries (max_bytes)

	// counters (also exported as metrics)
	dropped, sent, sendErrors atomic.Uint64
	mDropped, mSent, mErrors  *metrics.Counter
	mQueued                   *metrics.Gauge

	mu       sync.Mutex // guards refs, running, stop, done
	refs     int
	running  bool
	stopping atomic.Bool
	stop     chan struct{}
	done     chan struct{}
	flushBy  atomic.Int64 // unix nanos: deadline of the final flush
	budget   time.Duration

	lastErrLog atomic.Int64
}

func newWorker(s *settings, env *filters.Env) *worker {
	set := env.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	lbl := `{plugin="` + labelValue(s.instance) + `"}`
	w := &worker{s: s, log: env.Logger, queue: make(chan *entry, s.maxEntries), budget: closeBudget,
		mDropped: set.GetOrCreateCounter(`edgeguard_http_log_dropped_total` + lbl),
		mSent:    set.GetOrCreateCounter(`edgeguard_http_log_sent_total` + lbl),
		mErrors:  set.GetOrCreateCounter(`edgeguard_http_log_send_errors_total` + lbl),
		mQueued:  set.GetOrCreateGauge(`edgeguard_http_log_queue_entries`+lbl, nil),
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.client = &fasthttp.HostClient{
		Addr:                s.addr,
		Name:                "edgeguard-http-log",
		IsTLS:               s.tls,
		TLSConfig:           &tls.Config{ServerName: s.serverName, MinVersion: tls.VersionTLS12},
		MaxConns:            s.concurrency + 1,
		MaxIdleConnDuration: s.keepalive,
		ReadTimeout:         s.timeout,
		WriteTimeout:        s.timeout,
		MaxConnWaitTimeout:  s.timeout,
	}
	return w
}

func labelValue(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// acquire adds a reference, starting the senders if they are not running.
func (w *worker) acquire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refs++
	if w.running {
		return
	}
	w.running = true
	w.stopping.Store(false)
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	stop := w.stop
	for i := 0; i < w.s.concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(stop)
		}()
	}
	done := w.done
	go func() {
		wg.Wait()
		close(done)
	}()
}

// release drops a reference; the last one flushes the queue and stops the
// senders, waiting for them.
func (w *worker) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refs--
	if w.refs > 0 || !w.running {
		return
	}
	queued, sent0, dropped0 := len(w.queue), w.sent.Load(), w.dropped.Load()
	w.flushBy.Store(time.Now().Add(w.budget).UnixNano())
	w.stopping.Store(true)
	close(w.stop)
	// A send already in flight cannot be interrupted (fasthttp has no
	// cancellation); do not wait for it past the budget. The senders then
	// drop what is left (counted) as soon as it returns.
	t := time.NewTimer(w.budget + 100*time.Millisecond)
	defer t.Stop()
	finished := true
	select {
	case <-w.done:
	case <-t.C:
		finished = false
	}
	w.running = false
	// One line with the outcome of the flush. When a send is still in
	// flight past the budget, what is still queued is dropped as soon as it
	// returns: counted here as dropped already (the batch in flight is not).
	sent, dropped := w.sent.Load()-sent0, w.dropped.Load()-dropped0
	if !finished {
		dropped += uint64(len(w.queue))
	}
	attrs := []any{"endpoint", w.s.endpoint, "queued", queued, "sent", sent, "dropped", dropped}
	switch {
	case !finished:
		w.log.Warn(Name+": shutdown flush: collector did not answer within the budget; unsent entries are dropped", attrs...)
	case dropped > 0:
		w.log.Warn(Name+": shutdown flush: entries dropped", attrs...)
	default:
		w.log.Info(Name+": shutdown flush done", attrs...)
	}
}

// enqueue hands e to the queue without blocking; when it is full the
// oldest entry is dropped.
func (w *worker) enqueue(e *entry) {
	if max := w.s.maxBytes; max > 0 && w.bytes.Load()+e.bytes > max {
		w.drop(1)
		releaseEntry(e)
		return
	}
	w.bytes.Add(e.bytes)
	w.mQueued.Inc() // before the send: a sender may take e at once
	for range 2 {
		select {
		case w.queue <- e:
			return
		default:
		}
		select { // full: make room by dropping the oldest
		case old := <-w.queue:
			w.dequeued(old)
			w.drop(1)
			releaseEntry(old)
		default:
		}
	}
	w.dequeued(e)
	w.drop(1)
	releaseEntry(e)
}

func (w *worker) dequeued(e *entry) {
	w.bytes.Add(-e.bytes)
	w.mQueued.Dec()
}

func (w *worker) drop(n int) {
	w.dropped.Add(uint64(n))
	w.mDropped.Add(n)
}

func (w *worker) stats() Stats {
	return Stats{Queued: uint64(len(w.queue)), Sent: w.sent.Load(), Dropped: w.dropped.Load(), SendErrors: w.sendErrors.Load()}
}

// sender is one sender goroutine's reusable state.
type sender struct {
	enc   encoder
	batch []*entry
	body  []byte
	req   fasthttp.Request
	resp  fasthttp.Response
	timer *time.Timer
	stop  <-chan struct{} // closed when the worker stops; nil once seen
}

func (w *worker) run(stop <-chan struct{}) {
	sd := &sender{batch: make([]*entry, 0, w.s.batch), timer: time.NewTimer(time.Hour), stop: stop}
	sd.timer.Stop()
	for {
		select {
		case e := <-w.queue:
			w.dequeued(e)
			sd.batch = append(sd.batch[:0], e)
		case <-stop:
			sd.stop = nil
			w.drain(sd)
			return
		}
		if w.s.batch > 1 && !w.collect(sd) {
			w.send(sd)
			w.drain(sd)
			return
		}
		w.send(sd)
	}
}

// collect adds entries to the batch until it is full or max_coalescing_delay
// passed. It returns false when the worker is stopping.
func (w *worker) collect(sd *sender) bool {
	// take what is already queued without waiting
	for len(sd.batch) < w.s.batch {
		select {
		case e := <-w.queue:
			w.dequeued(e)
			sd.batch = append(sd.batch, e)
			continue
		default:
		}
		break
	}
	if len(sd.batch) >= w.s.batch || w.s.delay <= 0 {
		return true
	}
	sd.timer.Reset(w.s.delay)
	defer sd.timer.Stop()
	for len(sd.batch) < w.s.batch {
		select {
		case e := <-w.queue:
			w.dequeued(e)
			sd.batch = append(sd.batch, e)
		case <-sd.timer.C:
			return true
		case <-sd.stop:
			sd.stop = nil
			return false
		}
	}
	return true
}

// drain sends what is left in the queue until the flush deadline.
func (w *worker) drain(sd *sender) {
	for {
		sd.batch = sd.batch[:0]
		for len(sd.batch) < w.s.batch {
			select {
			case e := <-w.queue:
				w.dequeued(e)
				sd.batch = append(sd.batch, e)
				continue
			default:
			}
			break
		}
		if len(sd.batch) == 0 {
			return
		}
		w.send(sd)
	}
}

var errStatus = errors.New("collector answered with a status >= 300")

// send encodes the batch and posts it, retrying with exponential backoff
// until max_retry_time (or the flush deadline); then the batch is dropped.
// The batch's entries are released.
func (w *worker) send(sd *sender) {
	n := len(sd.batch)
	b := sd.body[:0]
	if w.s.batch > 1 {
		b = append(b, '[')
	}
	for i, e := range sd.batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = sd.enc.appendEntry(b, e)
		releaseEntry(e)
		sd.batch[i] = nil
	}
	if w.s.batch > 1 {
		b = append(b, ']')
	}
	sd.body = b
	sd.batch = sd.batch[:0]

	deadline := time.Now().Add(w.s.retryTime)
	delay := w.s.retryDelay
	for {
		timeout := w.s.timeout
		if w.stopping.Load() {
			// the final flush: nothing may outlast its deadline, not even
			// one send to a collector that accepts and never answers
			by := time.Unix(0, w.flushBy.Load())
			if by.Before(deadline) {
				deadline = by
			}
			rem := time.Until(by)
			if rem <= 0 {
				w.drop(n)
				return
			}
			timeout = min(timeout, rem)
		}
		err := w.post(sd, timeout)
		if err == nil {
			w.sent.Add(uint64(n))
			w.mSent.Add(n)
			return
		}
		w.sendErrors.Add(1)
		w.mErrors.Inc()
		w.logError(err, sd)
		if time.Now().Add(delay).After(deadline) {
			w.drop(n)
			return
		}
		sd.timer.Reset(delay)
		select {
		case <-sd.timer.C:
		case <-sd.stop:
			// stopping: retry once at once, then back off within the
			// flush deadline
			sd.timer.Stop()
			sd.stop = nil
		}
		delay *= 2
		if delay > w.s.maxDelay {
			delay = w.s.maxDelay
		}
	}
}

func (w *worker) post(sd *sender, timeout time.Duration) error {
	req, resp := &sd.req, &sd.resp
	req.Reset()
	resp.Reset()
	req.SetRequestURI(w.s.endpoint)
	req.Header.SetMethod(w.s.method)
	req.Header.SetContentType(w.s.contentType)
	for _, h := range w.s.headers {
		req.Header.Set(h[0], h[1])
	}
	req.SetBodyRaw(sd.body)
	if err := w.client.DoTimeout(req, resp, timeout); err != nil {
		return err
	}
	if resp.StatusCode() >= 300 {
		return errStatus
	}
	return nil
}

// logError logs a failed send at most every 10 s.
func (w *worker) logError(err error, sd *sender) {
	now := time.Now().UnixNano()
	last := w.lastErrLog.Load()
	if now-last < int64(10*time.Second) || !w.lastErrLog.CompareAndSwap(last, now) {
		return
	}
	attrs := []any{"endpoint", w.s.endpoint, "err", err}
	if errors.Is(err, errStatus) {
		attrs = append(attrs, "status", sd.resp.StatusCode())
	}
	w.log.Warn(Name+": cannot deliver log batch (retrying)", attrs...)
}
