package examples

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// node is one gateway process of a 3-node cluster.
type node struct {
	*gateway
	name, gossip string
	env          []string
}

func startCluster(t *testing.T, n int) []*node {
	t.Helper()
	secret := base64.StdEncoding.EncodeToString([]byte("acceptance-cluster-key-32-bytes!"))
	var nodes []*node
	var seed string
	for i := 0; i < n; i++ {
		gossip := freeAddr(t)
		if i == 0 {
			seed = gossip
		}
		port := gossip[strings.LastIndexByte(gossip, ':')+1:]
		env := []string{fmt.Sprintf("NODE_NAME=gw-%d", i+1), "CLUSTER_PORT=" + port, "CLUSTER_SEED=" + seed, "CLUSTER_SECRET=" + secret}
		nodes = append(nodes, &node{gateway: start(t, "cluster", env...), name: fmt.Sprintf("gw-%d", i+1), gossip: gossip, env: env})
	}
	waitMembers(t, nodes[0].gateway, n)
	return nodes
}

func clusterStatus(t *testing.T, g *gateway) (alive int, states map[string]string) {
	r := send(t, "GET", g.admin+"/cluster", nil, "")
	var st struct {
		Members []struct{ Name, State string }
	}
	json.Unmarshal([]byte(r.body), &st)
	states = map[string]string{}
	for _, m := range st.Members {
		states[m.Name] = m.State
		if m.State == "alive" {
			alive++
		}
	}
	return alive, states
}

func waitMembers(t *testing.T, g *gateway, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if alive, _ := clusterStatus(t, g); alive == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, st := clusterStatus(t, g)
	t.Fatalf("cluster did not reach %d alive members: %v", want, st)
}

// load sends rate requests per second for d, spread over the given nodes in
// turn, as client id, with bounded concurrency; it returns admitted and
// limited counts.
func load(t *testing.T, nodes []*gateway, client string, rate int, d time.Duration) (ok, limited int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		g := nodes[i%len(nodes)]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			req, _ := http.NewRequest("GET", g.url+"/v1/items", nil)
			req.Header.Set("X-Client-Id", client)
			res, err := cl.Do(req)
			if err != nil {
				return
			}
			res.Body.Close()
			mu.Lock()
			switch res.StatusCode {
			case 200:
				ok++
			case 429:
				limited++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return ok, limited
}

func within(got, want int, pct float64) bool {
	d := float64(got - want)
	return d <= float64(want)*pct/100 && -d <= float64(want)*pct/100
}

// TestCluster starts 3 real edgeguard processes that share one rate limit
// (100/s per client, burst 100) and one blocklist by gossip, and checks the
// accuracy targets and the fault cases.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("3-process cluster test")
	}
	nodes := startCluster(t, 3)
	all := []*gateway{nodes[0].gateway, nodes[1].gateway, nodes[2].gateway}

	// Spread evenly, 3× the limit for 3 s: burst 100 + 300.
	ok, limited := load(t, all, "even", 300, 3*time.Second)
	t.Logf("even spread: %d admitted, %d limited (ideal 400)", ok, limited)
	if !within(ok, 400, 5) {
		t.Errorf("even spread: %d admitted, want 400 ± 5%%", ok)
	}
	// All on one node, then switching to another mid-test: 100 + 2 s × 100/s.
	ok1, _ := load(t, all[:1], "switch", 300, 1500*time.Millisecond)
	ok2, _ := load(t, all[1:2], "switch", 300, 1500*time.Millisecond)
	t.Logf("one node then another: %d + %d admitted (ideal 400)", ok1, ok2)
	if !within(ok1+ok2, 400, 5) {
		t.Errorf("switching nodes: %d admitted, want 400 ± 5%%", ok1+ok2)
	}
	// A client under the limit is never rejected.
	ok, limited = load(t, all, "polite", 80, 3*time.Second)
	if limited != 0 {
		t.Errorf("client at 80%% of its limit got %d 429s (%d ok)", limited, ok)
	}

	// A block made on one node holds on every node within a second.
	if r := send(t, "POST", nodes[0].admin+"/blocklist", nil, `{"ip":"127.0.0.1","ttl":"2s","reason":"cluster test"}`); r.status != 201 {
		t.Fatalf("block: %d %s", r.status, r.body)
	}
	time.Sleep(time.Second)
	for _, n := range nodes {
		if r := send(t, "GET", n.url+"/v1/items", map[string]string{"X-Client-Id": "blocked"}, ""); r.status != 403 {
			t.Errorf("%s: block not propagated: %d", n.name, r.status)
		}
	}
	time.Sleep(1500 * time.Millisecond) // expires everywhere at the same time
	for _, n := range nodes {
		if r := send(t, "GET", n.url+"/v1/items", map[string]string{"X-Client-Id": "after-block"}, ""); r.status != 200 {
			t.Errorf("%s: block did not expire: %d", n.name, r.status)
		}
	}

	// A node killed with SIGKILL: the others notice within seconds and keep
	// enforcing the limit between them.
	nodes[2].cmd.Process.Kill()
	nodes[2].cmd.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, st := clusterStatus(t, nodes[0].gateway)
		if st["gw-3"] != "alive" {
			t.Logf("gw-3 seen as %q", st["gw-3"])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gw-3 still alive after SIGKILL: %v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ok, _ = load(t, all[:2], "after-kill", 300, 2*time.Second)
	t.Logf("after kill: %d admitted by 2 nodes (ideal 300)", ok)
	if !within(ok, 300, 7) {
		t.Errorf("after kill: %d admitted, want 300 ± 7%%", ok)
	}

	// The node comes back and converges.
	back := start(t, "cluster", nodes[2].env...)
	waitMembers(t, nodes[0].gateway, 3)
	ok, _ = load(t, []*gateway{nodes[0].gateway, nodes[1].gateway, back}, "rejoined", 300, 2*time.Second)
	t.Logf("after rejoin: %d admitted by 3 nodes (ideal 300)", ok)
	if !within(ok, 300, 7) {
		t.Errorf("after rejoin: %d admitted, want 300 ± 7%%", ok)
	}

	// An abusive IP is blocked automatically on one node, then everywhere.
	for i := 0; i < 5; i++ {
		send(t, "GET", nodes[0].url+"/nothing-here", nil, "")
	}
	time.Sleep(time.Second)
	for _, g := range []*gateway{nodes[1].gateway, back} {
		if r := send(t, "GET", g.url+"/v1/items", map[string]string{"X-Client-Id": "abuser"}, ""); r.status != 403 {
			t.Errorf("auto-block did not reach %s: %d", g.admin, r.status)
		}
	}
}
