// Package bench holds edgeguard's load suites: end-to-end `go test -bench`
// benchmarks (client → edgeguard → backend over loopback), the vegeta
// fixed-rate load test (bench/loadtest, `make loadtest`) and the peerbench
// targets that compare edgeguard with nginx, haproxy and caddy
// (bench/peerbench).
package bench
