package proxy

import (
	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

func (g *Gateway) writeMetrics(rc *fasthttp.RequestCtx) {
	w := rc.Response.BodyWriter()
	g.metrics.set.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}
