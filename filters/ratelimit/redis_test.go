package ratelimit

import (
	"fmt"
	"github.com/edgeguard/edgeguard/filters/ratelimit/redistest"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

func redisYAML(addr, extra string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("limit_by: ip\npolicy: redis\nredis_host: %s\nredis_port: %s\nredis_timeout: 300\n%s", host, port, extra)
}

// timed runs one request now (real time: Redis uses its own clock).
func timed(f filters.Filter, req *filtertest.Request) (filters.Verdict, time.Duration) {
	req.Reset()
	start := time.Now()
	req.Ctx.Start = start
	v := req.Run(f)
	return v, time.Since(start)
}

func TestRedisPolicySharedAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	// Two gateway nodes: separate envs (separate engines and clients), same
	// instance name, same Redis.
	conf := redisYAML(srv.Addr(), "minute: 3\nhour: 100\n")
	node1 := mustBuild(t, filtertest.Env(t), conf)
	node2 := mustBuild(t, filtertest.Env(t), conf)
	req := filtertest.NewRequest("GET", "/", "203.0.113.50")
	wantRemaining := []string{"2", "1", "0"}
	for i, f := range []*RateLimit{node1, node2, node1} {
		if v, _ := timed(f, req); v != filters.Continue {
			t.Fatalf("request %d rejected: %s", i, req.RC.Response.Body())
		}
		if got := hdr(req, "X-RateLimit-Remaining-Minute"); got != wantRemaining[i] {
			t.Errorf("request %d: remaining %q, want %q", i, got, wantRemaining[i])
		}
		if got := hdr(req, "X-RateLimit-Remaining-Hour"); got != strconv.Itoa(99-i) {
			t.Errorf("request %d: hour remaining %q", i, got)
		}
	}
	if v, _ := timed(node2, req); v != filters.Respond {
		t.Fatal("4th request across nodes admitted")
	}
	if req.RC.Response.StatusCode() != 429 {
		t.Fatalf("status %d", req.RC.Response.StatusCode())
	}
	// Three requests within milliseconds: the minute bucket (a token per
	// 20 s) needs about 20 s.
	if ra, _ := strconv.Atoi(hdr(req, "Retry-After")); ra < 19 || ra > 20 {
		t.Fatalf("Retry-After %q", hdr(req, "Retry-After"))
	}
	if hdr(req, "RateLimit-Limit") != "3" || hdr(req, "RateLimit-Remaining") != "0" {
		t.Fatalf("RateLimit headers %q %q", hdr(req, "RateLimit-Limit"), hdr(req, "RateLimit-Remaining"))
	}
	// Another client is unaffected.
	other := filtertest.NewRequest("GET", "/", "203.0.113.51")
	if v, _ := timed(node1, other); v != filters.Continue {
		t.Fatal("other client rejected")
	}
}

func TestRedisTiers(t *testing.T) {
	srv := redistest.Start(t)
	f := mustBuild(t, filtertest.Env(t), redisYAML(srv.Addr(), "tiers:\n  free: {minute: 1}\n  paid: {minute: 4}\ndefault_tier: free\n"))
	paid := &filters.Consumer{ID: "p", Tier: "paid"}
	req := filtertest.NewRequest("GET", "/", "203.0.113.60")
	n := 0
	for i := 0; i < 8; i++ {
		req.Reset()
		req.Ctx.Consumer = paid
		req.Ctx.Start = time.Now()
		if req.Run(f) == filters.Continue {
			n++
		}
	}
	if n != 4 {
		t.Fatalf("paid tier admitted %d, want 4", n)
	}
}

func TestRedisKilledFaultTolerant(t *testing.T) {
	srv := redistest.Start(t)
	env := filtertest.Env(t)
	f := mustBuild(t, env, redisYAML(srv.Addr(), "minute: 5\nfault_tolerant: true\n"))
	req := filtertest.NewRequest("GET", "/", "203.0.113.70")
	for i := 0; i < 2; i++ {
		if v, _ := timed(f, req); v != filters.Continue {
			t.Fatalf("request %d rejected", i)
		}
	}
	if hdr(req, "X-RateLimit-Remaining-Minute") != "3" {
		t.Fatalf("remaining %q", hdr(req, "X-RateLimit-Remaining-Minute"))
	}

	srv.Kill()
	// Redis is gone: no 500, nothing hangs, decisions come from this node's
	// bucket (which saw none of the earlier requests: 5 more pass, then 429
	// by the local limit, never because of the error).
	admitted := 0
	var slowest time.Duration
	for i := 0; i < 12; i++ {
		v, took := timed(f, req)
		slowest = max(slowest, took)
		switch v {
		case filters.Continue:
			admitted++
		case filters.Respond:
			if st := req.RC.Response.StatusCode(); st != 429 {
				t.Fatalf("request %d: status %d %s", i, st, req.RC.Response.Body())
			}
		}
	}
	if admitted != 5 {
		t.Fatalf("admitted %d from the local bucket, want 5", admitted)
	}
	if slowest > time.Second { // generous for loaded CI; a hang would be unbounded
		t.Fatalf("a request took %v with Redis down (timeout 300ms)", slowest)
	}
	if !f.redis.br.isOpen() {
		t.Fatal("breaker not open after consecutive failures")
	}
	// With the breaker open no request touches the network.
	if _, took := timed(f, req); took > 50*time.Millisecond {
		t.Fatalf("request with open breaker took %v", took)
	}
	var sb strings.Builder
	env.Metrics.WritePrometheus(&sb)
	if !strings.Contains(sb.String(), `edgeguard_ratelimit_fallback_total{plugin="test"} 13`) {
		t.Errorf("fallback metric:\n%s", sb.String())
	}

	// Redis comes back (empty: no persistence). After the cooldown the
	// breaker lets a probe through and decisions come from Redis again: a
	// fresh Redis bucket admits although the local one is empty.
	srv.Restart()
	time.Sleep(breakerCooldown + 100*time.Millisecond)
	ok := false
	for i := 0; i < 20 && !ok; i++ {
		if v, _ := timed(f, req); v == filters.Continue && hdr(req, "X-RateLimit-Remaining-Minute") == "4" {
			ok = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !ok {
		t.Fatal("did not go back to Redis after it returned")
	}
	if f.redis.br.isOpen() {
		t.Fatal("breaker still open")
	}
}

func TestRedisKilledNotFaultTolerant(t *testing.T) {
	srv := redistest.Start(t)
	f := mustBuild(t, filtertest.Env(t), redisYAML(srv.Addr(), "minute: 5\nfault_tolerant: false\n"))
	req := filtertest.NewRequest("GET", "/", "203.0.113.80")
	if v, _ := timed(f, req); v != filters.Continue {
		t.Fatal("rejected with Redis up")
	}
	srv.Kill()
	for i := 0; i < 6; i++ {
		v, took := timed(f, req)
		if v != filters.Respond || req.RC.Response.StatusCode() != 500 {
			t.Fatalf("request %d: verdict %v status %d", i, v, req.RC.Response.StatusCode())
		}
		if body := string(req.RC.Response.Body()); !strings.Contains(body, `"message":"An unexpected error occurred"`) {
			t.Fatalf("body %s", body)
		}
		if req.Ctx.RejectReason != "ratelimit_store_error" {
			t.Fatalf("reason %q", req.Ctx.RejectReason)
		}
		if took > time.Second {
			t.Fatalf("request %d took %v", i, took)
		}
	}
}

// TestRedisBlackhole: a Redis that accepts connections and never answers.
// Each of the first requests waits at most redis_timeout, then the breaker
// opens and requests stop waiting at all.
func TestRedisBlackhole(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // hold it open, never answer
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	y := strings.Replace(redisYAML(l.Addr().String(), "minute: 100\n"), "redis_timeout: 300", "redis_timeout: 100", 1)
	f := mustBuild(t, filtertest.Env(t), y)
	req := filtertest.NewRequest("GET", "/", "203.0.113.90")
	start := time.Now()
	for i := 0; i < 50; i++ {
		v, took := timed(f, req)
		if v != filters.Continue {
			t.Fatalf("request %d rejected (status %d) because of Redis", i, req.RC.Response.StatusCode())
		}
		if took > 600*time.Millisecond {
			t.Fatalf("request %d took %v (timeout 100ms)", i, took)
		}
	}
	// Without the breaker: 50 × 100 ms = 5 s.
	if total := time.Since(start); total > 2*time.Second {
		t.Fatalf("50 requests took %v: breaker did not stop the waiting", total)
	}
}
