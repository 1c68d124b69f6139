package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters/ratelimit/redistest"
)

// TestRateLimitRedisPolicy runs the article's Kong config (policy: redis with
// flat redis_host/redis_port) through two gateways sharing one real
// redis-server, then kills Redis: with fault_tolerant the gateways fall back
// to their local buckets and keep limiting; without it they answer 500.
func TestRateLimitRedisPolicy(t *testing.T) {
	rs := redistest.Start(t)
	host, port, _ := strings.Cut(rs.Addr(), ":")
	b := startBackend(t, "api")
	cfg := func(ft bool) string {
		f := "true"
		if !ft {
			f = "false"
		}
		return `
services: [{name: api, targets: ["@B1@"]}]
routes: [{name: api, paths: ["/"], service: api, plugins: [rate-limit-standard]}]
plugins:
  - name: rate-limit-standard
    plugin: rate-limiting
    config:
      minute: 10
      hour: 1000
      limit_by: ip
      policy: redis
      redis_host: ` + host + `
      redis_port: ` + port + `
      redis_timeout: 200
      fault_tolerant: ` + f + `
      hide_client_headers: false
`
	}
	g1 := startGateway(t, cfg(true), b)
	g2 := startGateway(t, cfg(true), b)
	count := func(g *gw, n int) (ok, limited, other int) {
		for i := 0; i < n; i++ {
			switch r := do(t, "GET", g.url+"/x", nil, nil); r.status {
			case 200:
				ok++
			case 429:
				limited++
			default:
				other++
			}
		}
		return
	}
	// The limit is shared through Redis: 6 on one node + 6 on the other = 12 > 10.
	ok1, _, _ := count(g1, 6)
	ok2, lim2, _ := count(g2, 6)
	if ok1+ok2 != 10 || lim2 != 2 {
		t.Fatalf("shared limit: node1 %d ok, node2 %d ok %d limited", ok1, ok2, lim2)
	}
	// Redis dies: fault_tolerant keeps requests flowing on local buckets,
	// which still limit (10/min each), and nothing waits on the dead server.
	rs.Kill()
	start := time.Now()
	ok, limited, other := count(g1, 12)
	if other != 0 || ok == 0 || limited == 0 {
		t.Fatalf("redis down, fault tolerant: %d ok %d limited %d other", ok, limited, other)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("requests waited on the dead Redis: %v for 12", d)
	}
	// Without fault_tolerant: 500 while Redis is down.
	g3 := startGateway(t, cfg(false), b)
	if r := do(t, "GET", g3.url+"/x", nil, nil); r.status != 500 {
		t.Fatalf("redis down, not fault tolerant: %d %s", r.status, r.body)
	}
	// Redis back: limits are enforced through it again.
	rs.Restart()
	time.Sleep(1200 * time.Millisecond) // circuit breaker half-opens after 1 s
	ok, limited, _ = count(g3, 12)
	if ok != 10 || limited != 2 {
		t.Fatalf("redis back: %d ok, %d limited", ok, limited)
	}
}
