#!/usr/bin/env bash
# TLS termination: edgeguard next to nginx with the same certificate, in one
# run, pinned like peerbench (wrk on CPU 0; backend + proxy on CPU 1). Two
# modes: keep-alive requests (HTTPS req/s) and Connection: close (a full
# handshake per request). Prints a table of medians over ROUNDS rounds.
#   make build && bench/tls/compare.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-8}; CONNS=${2:-64}; ROUNDS=${ROUNDS:-3}; KEY=${KEY:-ec}
for c in nginx wrk openssl taskset; do command -v $c >/dev/null || { echo "tls/compare: needs $c"; exit 1; }; done
[ -x bin/edgeguard ] || { echo "tls/compare: run make build first"; exit 1; }
BACKEND_BIN=/var/tmp/peerbench/bin/peerbench-backend
DIR=$(mktemp -d /tmp/edgeguard-tls.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$DIR/nginx.pid" ] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT

if [ "$KEY" = rsa ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench.local -addext subjectAltName=DNS:bench.local -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
else
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.local -addext subjectAltName=DNS:bench.local -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
fi

if [ -x "$BACKEND_BIN" ]; then
  taskset -c 1 env GOMAXPROCS=1 "$BACKEND_BIN" -listen 127.0.0.1:18480 >/dev/null 2>&1 & pids+=($!)
else
  go build -o "$DIR/echo" ./examples/echo-backend && taskset -c 1 env GOMAXPROCS=1 "$DIR/echo" -listen 127.0.0.1:18480 -quiet >/dev/null 2>&1 & pids+=($!)
fi

cat >"$DIR/nginx.conf" <<NGX
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream be { server 127.0.0.1:18480; keepalive 64; }
  server {
    listen 127.0.0.1:18481 ssl;
    ssl_certificate $DIR/cert.pem; ssl_certificate_key $DIR/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384;
    ssl_session_cache shared:SSL:10m;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGX
taskset -c 1 nginx -c "$DIR/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 & pids+=($!)

cat >"$DIR/edgeguard.yaml" <<EGY
listen:
  http: "127.0.0.1:18482"
  https: "127.0.0.1:18483"
  tls: {certificates: [{cert_file: "$DIR/cert.pem", key_file: "$DIR/key.pem"}]}
admin: {listen: "off"}
access_log: {path: "off"}
data_dir: "$DIR/data"
services: [{name: b, targets: ["127.0.0.1:18480"], max_conns: 512}]
routes: [{name: items, paths: ["/"], service: b}]
EGY
taskset -c 1 env GOMAXPROCS=1 bin/edgeguard run -c "$DIR/edgeguard.yaml" >/dev/null 2>"$DIR/edgeguard.err" & pids+=($!)
sleep 1.5
for p in 18481 18483; do
  curl -sk -o /dev/null -w "port $p: %{http_code} %{ssl_verify_result}\n" "https://127.0.0.1:$p/v1/items" || { echo "target on $p not up"; exit 1; }
done

run() { # port mode -> req/s
  local extra=()
  [ "$2" = close ] && extra=(-H "Connection: close")
  taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --timeout 5s "${extra[@]}" "https://127.0.0.1:$1/v1/items" 2>/dev/null |
    awk '/Requests\/sec/ {print int($2)}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "key=$KEY seconds=$SECS connections=$CONNS rounds=$ROUNDS (wrk CPU 0; backend + proxy CPU 1, one worker each)"
printf "| mode | nginx req/s | edgeguard req/s | edgeguard / nginx |\n|---|---:|---:|---:|\n"
for mode in keepalive close; do
  n=(); e=()
  for r in $(seq "$ROUNDS"); do n+=("$(run 18481 $mode)"); e+=("$(run 18483 $mode)"); done
  nm=$(printf '%s\n' "${n[@]}" | median); em=$(printf '%s\n' "${e[@]}" | median)
  printf "| %s | %s | %s | %.2f |\n" "$mode" "$nm" "$em" "$(echo "$em / $nm" | bc -l)"
done
