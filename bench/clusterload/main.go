// Command clusterload runs the 3-node cluster scenarios of
// examples/cluster with vegeta at fixed rates and prints admitted requests
// against what a single global limit of 100/s (burst 100) allows:
//
//	make build && go run ./bench/clusterload -bin bin/edgeguard
//
// It starts a backend and three edgeguard processes on loopback ports and
// stops them at the end.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"github.com/valyala/fasthttp"
)

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type proc struct {
	cmd        *exec.Cmd
	url, admin string
}

func main() {
	bin := flag.String("bin", "bin/edgeguard", "edgeguard binary")
	cfg := flag.String("config", "examples/cluster/edgeguard.yaml", "cluster config")
	flag.Parse()
	dir, _ := os.MkdirTemp("", "clusterload")
	defer os.RemoveAll(dir)

	bln, _ := net.Listen("tcp", "127.0.0.1:0")
	go (&fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) { rc.SetBodyString(`{"ok":true}`) }}).Serve(bln)

	secret := base64.StdEncoding.EncodeToString([]byte("clusterload-secret-32-bytes-long"))
	var procs []*proc
	var seed string
	for i := 0; i < 3; i++ {
		gossip := freeAddr()
		if i == 0 {
			seed = gossip
		}
		p := &proc{url: "http://" + freeAddr(), admin: "http://" + freeAddr()}
		p.cmd = exec.Command(*bin, "run", "-c", *cfg)
		p.cmd.Env = append(os.Environ(), fmt.Sprintf("NODE_NAME=gw-%d", i+1), "CLUSTER_PORT="+gossip[strings.LastIndexByte(gossip, ':')+1:],
			"CLUSTER_SEED="+seed, "CLUSTER_SECRET="+secret, "LISTEN="+strings.TrimPrefix(p.url, "http://"),
			"ADMIN_LISTEN="+strings.TrimPrefix(p.admin, "http://"), "DATA_DIR="+filepath.Join(dir, fmt.Sprint(i)),
			"ACCESS_LOG=off", "BACKEND="+bln.Addr().String())
		if err := p.cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "clusterload:", err)
			os.Exit(1)
		}
		defer func() { p.cmd.Process.Signal(syscall.SIGTERM); p.cmd.Wait() }()
		procs = append(procs, p)
	}
	for _, p := range procs {
		for i := 0; i < 100; i++ {
			if res, err := http.Get(p.admin + "/readyz"); err == nil && res.StatusCode == 200 {
				res.Body.Close()
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second) // members join

	attack := func(client string, nodes []*proc, rate int, d time.Duration) int {
		var targets []vegeta.Target
		for _, p := range nodes {
			targets = append(targets, vegeta.Target{Method: "GET", URL: p.url + "/v1/items", Header: http.Header{"X-Client-Id": {client}}})
		}
		a := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Connections(64), vegeta.Timeout(5*time.Second))
		ok := 0
		for res := range a.Attack(vegeta.NewStaticTargeter(targets...), vegeta.Rate{Freq: rate, Per: time.Second}, d, client) {
			if res.Code == 200 {
				ok++
			}
		}
		return ok
	}
	fmt.Println("| scenario | offered | admitted | ideal (100/s, burst 100) | error |")
	fmt.Println("|---|---:|---:|---:|---:|")
	row := func(name string, offered, got, ideal int) {
		fmt.Printf("| %s | %d | %d | %d | %+.1f%% |\n", name, offered, got, ideal, 100*float64(got-ideal)/float64(ideal))
	}
	row("spread evenly over 3 nodes, 300/s for 5 s", 1500, attack("even", procs, 300, 5*time.Second), 600)
	a := attack("switch", procs[:1], 300, 2500*time.Millisecond)
	b := attack("switch", procs[1:2], 300, 2500*time.Millisecond)
	row("all on node 1 for 2.5 s, then node 2 for 2.5 s", 1500, a+b, 600)
	row("client under its limit, 80/s for 5 s (no 429 wanted)", 400, attack("polite", procs, 80, 5*time.Second), 400)
	row("burst 1000/s for 2 s over 3 nodes", 2000, attack("burst", procs, 1000, 2*time.Second), 300)
}
