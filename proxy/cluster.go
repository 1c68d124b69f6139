package proxy

import (
	"encoding/json"
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/limiter/cluster"
	"github.com/edgeguard/edgeguard/proxy/config"
)

// startCluster joins the gossip cluster when the config has a `cluster:`
// section. The node is stored in Shared before any plugin is built, so
// `policy: cluster` rate limits find it, and it carries the blocklist, so
// blocks made on any node reach every node. The section is read at start
// only; a reload keeps the running node.
func (g *Gateway) startCluster(cfg *config.Config) error {
	if cfg.Cluster == nil {
		return nil
	}
	node, err := cluster.New(*cfg.Cluster, cluster.Options{Metrics: g.metrics.set, Logger: g.log, Blocklist: g.blocklist})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	g.cluster = node
	g.shared.Get(cluster.SharedKey, func() any { return node })
	g.HandleAdmin("GET /cluster", func(rc *fasthttp.RequestCtx, _ *AuditEntry) {
		b, _ := json.MarshalIndent(node.Status(), "", "  ")
		rc.SetBody(b)
	})
	return nil
}

func (g *Gateway) stopCluster() {
	if g.cluster != nil {
		if err := g.cluster.Shutdown(); err != nil {
			g.log.Warn("cluster: leaving", "err", err)
		}
	}
}
