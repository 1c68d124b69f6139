// Command loadtest drives a running edgeguard at a fixed request rate with
// vegeta and prints latency percentiles (wrk measures a closed loop; a fixed
// rate shows latency at a given load). Without -target it starts the
// edgeguard binary given by -bin on free loopback ports with a config of its
// own (config.yaml here): one route without a rate limit in front of the
// quickstart's demo upstream, so the load measures the gateway, not its
// limiter (the quickstart's routes allow 5 requests/s per client).
//
// It prints the status codes and the share of 2xx answers, and exits 1 when
// that share is below -min-success.
//
//	go run ./bench/loadtest -bin bin/edgeguard -rate 2000 -duration 10s
//	go run ./bench/loadtest -target http://127.0.0.1:8080/v1/hello -rate 5000
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/edgeguard/edgeguard/cmd/edgeguard/quickstart"
)

// Config is the gateway config loadtest starts -bin with. It takes the
// addresses and directories from the environment, as the quickstart does.
//
//go:embed config.yaml
var Config []byte

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "bin/edgeguard", "edgeguard binary to start (when -target is empty)")
	target := fs.String("target", "", "URL to load (default: start -bin with loadtest's own config)")
	rate := fs.Int("rate", 2000, "requests per second")
	duration := fs.Duration("duration", 10*time.Second, "test duration (capped at 5m)")
	minSuccess := fs.Float64("min-success", 0.99, "exit 1 when the share of 2xx answers is below this")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadtest: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *duration > 5*time.Minute {
		*duration = 5 * time.Minute
	}
	url := *target
	if url == "" {
		var stop func()
		var err error
		url, stop, err = startGateway(*bin)
		if err != nil {
			fmt.Fprintln(stderr, "loadtest:", err)
			return 1
		}
		defer stop()
	}
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: url})
	attacker := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Connections(256), vegeta.Timeout(5*time.Second))
	var m vegeta.Metrics
	for res := range attacker.Attack(targeter, vegeta.Rate{Freq: *rate, Per: time.Second}, *duration, "edgeguard") {
		m.Add(res)
	}
	m.Close()
	ok := successRatio(m.StatusCodes, m.Requests)
	fmt.Fprintf(stdout, "target %s\nrate %d/s for %s: %d requests, 2xx %.2f%%, throughput %.0f/s\n",
		url, *rate, *duration, m.Requests, ok*100, m.Throughput)
	fmt.Fprintf(stdout, "latency p50 %s  p90 %s  p99 %s  max %s\n", m.Latencies.P50, m.Latencies.P90, m.Latencies.P99, m.Latencies.Max)
	if len(m.Errors) > 0 {
		fmt.Fprintf(stdout, "errors: %v\n", m.Errors)
	}
	fmt.Fprintf(stdout, "status codes: %s\n", statusCodes(m.StatusCodes))
	if ok < *minSuccess {
		fmt.Fprintf(stderr, "loadtest: only %.2f%% of the answers were 2xx (-min-success %g): the numbers above are not the gateway's\n", ok*100, *minSuccess)
		return 1
	}
	return 0
}

// successRatio is the share of requests answered 2xx; status code 0 counts
// requests that got no answer.
func successRatio(codes map[string]int, requests uint64) float64 {
	if requests == 0 {
		return 0
	}
	n := 0
	for code, c := range codes {
		if len(code) == 3 && code[0] == '2' {
			n += c
		}
	}
	return float64(n) / float64(requests)
}

// statusCodes renders codes as "200: 19990, 0: 10" (0 is no answer), the
// most frequent first.
func statusCodes(codes map[string]int) string {
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if codes[keys[i]] != codes[keys[j]] {
			return codes[keys[i]] > codes[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", k, codes[k])
	}
	return b.String()
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startGateway starts bin with Config and the demo upstream (served by this
// process) and returns the URL to load once the gateway is ready.
func startGateway(bin string) (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "edgeguard-loadtest-")
	if err != nil {
		return "", nil, err
	}
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, Config, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	upstream, stopUpstream, err := quickstart.StartDemoUpstream()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	listen, admin := freeAddr(), freeAddr()
	cmd := exec.Command(bin, "run", "-c", file)
	cmd.Env = append(os.Environ(), "EDGEGUARD_LISTEN="+listen, "EDGEGUARD_ADMIN_LISTEN="+admin,
		"EDGEGUARD_DATA_DIR="+filepath.Join(dir, "data"), "EDGEGUARD_DEMO_UPSTREAM="+upstream)
	cmd.Stdout = nil // the access log
	var log headWriter
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		stopUpstream()
		os.RemoveAll(dir)
		return "", nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		stopUpstream()
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if res, err := http.Get("http://" + admin + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return "http://" + listen + "/v1/hello", stop, nil
			}
		}
		select {
		case <-exited:
			deadline = time.Time{}
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	return "", nil, fmt.Errorf("edgeguard did not become ready:\n%s", log.String())
}

// headWriter keeps the first 64 KiB written to it (the gateway's log up to
// a failed start) and discards the rest.
type headWriter struct {
	mu sync.Mutex
	b  []byte
}

func (w *headWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := 64<<10 - len(w.b); n > 0 {
		w.b = append(w.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (w *headWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
