package proxy

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/edgeguard/edgeguard/proxy/upstream"
)

// gwMetrics holds the process-wide metrics. Counters are looked up once per
// route and status code and cached, so the request path does no map lookups
// or string building after warm-up.
type gwMetrics struct {
	set        *metrics.Set
	kongCompat atomic.Bool

	mu     sync.Mutex
	routes map[string]*routeMetrics

	unmatched     *metrics.Counter
	badRequests   *metrics.Counter
	reloadsOK     *metrics.Counter
	reloadsFailed *metrics.Counter
	logDropped    *metrics.Counter
}

func newMetrics() *gwMetrics {
	// # TYPE lines, so promtool and Prometheus know counters from gauges.
	metrics.ExposeMetadata(true)
	s := metrics.NewSet()
	m := &gwMetrics{set: s, routes: map[string]*routeMetrics{}}
	m.unmatched = s.NewCounter(`edgeguard_unmatched_requests_total`)
	m.badRequests = s.NewCounter(`edgeguard_rejected_before_routing_total`)
	m.reloadsOK = s.NewCounter(`edgeguard_config_reloads_total{result="success"}`)
	m.reloadsFailed = s.NewCounter(`edgeguard_config_reloads_total{result="failure"}`)
	m.logDropped = s.NewCounter(`edgeguard_access_log_dropped_total`)
	return m
}

// routeMetrics are the series of one route.
type routeMetrics struct {
	set             *metrics.Set
	route, service  string
	codes           [600]atomic.Pointer[codeCounters]
	kcodes          [600]atomic.Pointer[kongCounters]
	total           *metrics.PrometheusHistogram
	upstream        *metrics.PrometheusHistogram
	bytesIn         *metrics.Counter
	bytesOut        *metrics.Counter
	kongTotal       *metrics.Histogram
	kongReqLatency  *metrics.PrometheusHistogram
	kongUpLatency   *metrics.PrometheusHistogram
	kongKongLatency *metrics.PrometheusHistogram
	upstreamErrMu   sync.Mutex
	upstreamErrs    map[string]*metrics.Counter
	rejectMu        sync.RWMutex
	rejects         map[rejectKey]*metrics.Counter
	kong            *atomic.Bool
}

type codeCounters struct {
	requests *metrics.Counter
}

type kongCounters struct {
	requests *metrics.Counter
	status   *metrics.Counter
}

type rejectKey struct{ plugin, reason string }

var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
var kongMSBuckets = []float64{1, 2, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 30000, 60000}

func (m *gwMetrics) route(name, service string) *routeMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := name + "\x00" + service
	if r, ok := m.routes[key]; ok {
		return r
	}
	lbl := fmt.Sprintf(`route=%q,service=%q`, name, service)
	klbl := fmt.Sprintf(`service=%q,route=%q,workspace="default"`, service, name)
	r := &routeMetrics{set: m.set, route: name, service: service, kong: &m.kongCompat,
		upstreamErrs: map[string]*metrics.Counter{}, rejects: map[rejectKey]*metrics.Counter{}}
	r.total = m.set.GetOrCreatePrometheusHistogramExt(`edgeguard_request_duration_seconds{`+lbl+`}`, latencyBuckets)
	r.upstream = m.set.GetOrCreatePrometheusHistogramExt(`edgeguard_upstream_duration_seconds{`+lbl+`}`, latencyBuckets)
	r.bytesIn = m.set.GetOrCreateCounter(`edgeguard_bandwidth_bytes_total{` + lbl + `,direction="ingress"}`)
	r.bytesOut = m.set.GetOrCreateCounter(`edgeguard_bandwidth_bytes_total{` + lbl + `,direction="egress"}`)
	if m.kongCompat.Load() {
		r.kongReqLatency = m.set.GetOrCreatePrometheusHistogramExt(`kong_request_latency_ms{`+klbl+`}`, kongMSBuckets)
		r.kongUpLatency = m.set.GetOrCreatePrometheusHistogramExt(`kong_upstream_latency_ms{`+klbl+`}`, kongMSBuckets)
		r.kongKongLatency = m.set.GetOrCreatePrometheusHistogramExt(`kong_kong_latency_ms{`+klbl+`}`, kongMSBuckets)
	}
	m.routes[key] = r
	return r
}

// observe records one finished request.
func (r *routeMetrics) observe(status int, total, up time.Duration, in, out int64) {
	if status < 100 || status > 599 {
		status = 599
	}
	cc := r.codes[status].Load()
	if cc == nil {
		cc = r.newCode(status)
	}
	cc.requests.Inc()
	r.total.Update(total.Seconds())
	if up > 0 {
		r.upstream.Update(up.Seconds())
	}
	if in > 0 {
		r.bytesIn.Add(int(in))
	}
	if out > 0 {
		r.bytesOut.Add(int(out))
	}
	if r.kong.Load() {
		kc := r.kcodes[status].Load()
		if kc == nil {
			kc = r.newKongCode(status)
		}
		kc.requests.Inc()
		kc.status.Inc()
		if r.kongReqLatency != nil {
			r.kongReqLatency.Update(float64(total.Microseconds()) / 1000)
			if up > 0 {
				r.kongUpLatency.Update(float64(up.Microseconds()) / 1000)
			}
			r.kongKongLatency.Update(float64((total - up).Microseconds()) / 1000)
		}
	}
}

func (r *routeMetrics) newCode(status int) *codeCounters {
	code := strconv.Itoa(status)
	cc := &codeCounters{
		requests: r.set.GetOrCreateCounter(fmt.Sprintf(`edgeguard_http_requests_total{route=%q,service=%q,code=%q}`, r.route, r.service, code)),
	}
	r.codes[status].CompareAndSwap(nil, cc)
	return r.codes[status].Load()
}

func (r *routeMetrics) newKongCode(status int) *kongCounters {
	code := strconv.Itoa(status)
	kc := &kongCounters{
		requests: r.set.GetOrCreateCounter(fmt.Sprintf(`kong_http_requests_total{service=%q,route=%q,code=%q,source="service",workspace="default",consumer=""}`, r.service, r.route, code)),
		status:   r.set.GetOrCreateCounter(fmt.Sprintf(`kong_http_status{service=%q,route=%q,code=%q}`, r.service, r.route, code)),
	}
	r.kcodes[status].CompareAndSwap(nil, kc)
	return r.kcodes[status].Load()
}

// rejected counts a request a filter ended.
func (r *routeMetrics) rejected(plugin, reason string) {
	k := rejectKey{plugin, reason}
	r.rejectMu.RLock()
	c := r.rejects[k]
	r.rejectMu.RUnlock()
	if c == nil {
		r.rejectMu.Lock()
		c = r.set.GetOrCreateCounter(fmt.Sprintf(`edgeguard_rejections_total{route=%q,plugin=%q,reason=%q}`, r.route, plugin, reason))
		r.rejects[k] = c
		r.rejectMu.Unlock()
	}
	c.Inc()
}

// upstreamError counts a failed upstream exchange by reason.
func (r *routeMetrics) upstreamError(reason string) {
	r.upstreamErrMu.Lock()
	c := r.upstreamErrs[reason]
	if c == nil {
		c = r.set.GetOrCreateCounter(fmt.Sprintf(`edgeguard_upstream_errors_total{service=%q,reason=%q}`, r.service, reason))
		r.upstreamErrs[reason] = c
	}
	r.upstreamErrMu.Unlock()
	c.Inc()
}

func (m *gwMetrics) onEject(service string) func(t *upstream.Target) {
	return func(t *upstream.Target) {
		m.set.GetOrCreateCounter(fmt.Sprintf(`edgeguard_upstream_ejections_total{service=%q,target=%q}`, service, t.Addr)).Inc()
	}
}
