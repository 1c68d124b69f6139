// Command loadtest drives a running edgeguard at a fixed request rate with
// vegeta and prints latency percentiles (wrk measures a closed loop; a fixed
// rate shows latency at a given load). Without -target it starts the
// edgeguard binary given by -bin with the quickstart config and its demo
// upstream on free loopback ports.
//
//	go run ./bench/loadtest -bin bin/edgeguard -rate 2000 -duration 10s
//	go run ./bench/loadtest -target http://127.0.0.1:8080/v1/hello -rate 5000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func main() {
	bin := flag.String("bin", "bin/edgeguard", "edgeguard binary to start (when -target is empty)")
	target := flag.String("target", "", "URL to load (default: start the quickstart and use its curl URL)")
	rate := flag.Int("rate", 2000, "requests per second")
	duration := flag.Duration("duration", 10*time.Second, "test duration (capped at 5m)")
	flag.Parse()
	if *duration > 5*time.Minute {
		*duration = 5 * time.Minute
	}
	url := *target
	if url == "" {
		var stop func()
		var err error
		url, stop, err = startQuickstart(*bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
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
	fmt.Printf("target %s\nrate %d/s for %s: %d requests, success %.2f%%, throughput %.0f/s\n",
		url, *rate, *duration, m.Requests, m.Success*100, m.Throughput)
	fmt.Printf("latency p50 %s  p90 %s  p99 %s  max %s\n", m.Latencies.P50, m.Latencies.P90, m.Latencies.P99, m.Latencies.Max)
	if len(m.Errors) > 0 {
		fmt.Printf("errors: %v\n", m.Errors)
	}
	fmt.Printf("status codes: %v\n", m.StatusCodes)
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startQuickstart(bin string) (string, func(), error) {
	cmd := exec.Command(bin, "run")
	cmd.Env = append(os.Environ(), "EDGEGUARD_LISTEN="+freeAddr(), "EDGEGUARD_ADMIN_LISTEN="+freeAddr())
	cmd.Stdout = nil
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }
	sc := bufio.NewScanner(stderr)
	re := regexp.MustCompile(`curl -i (http://\S+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return m[1], stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("edgeguard did not print its curl line")
}
