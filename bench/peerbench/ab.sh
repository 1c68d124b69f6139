#!/usr/bin/env bash
# ab.sh: alternating A/B of proxies on one core, for differences smaller than
# a peerbench run resolves (this VM's speed drifts by ±10% between runs).
#
#   bench/peerbench/ab.sh SECS ROUNDS 'name|port|command' 'name|port|command' ...
#
# Starts peerbench's backend (127.0.0.1:18080) and every command pinned to
# CPU 1 (GOMAXPROCS=1), then in each round loads each target in turn with
# wrk on CPU 0 (64 connections, peerbench's request: UA, Accept, a JWT) for
# SECS seconds, in reverse order every other round. Each command must proxy
# 127.0.0.1:18080 on its port, path /v1/items. Prints per round: req/s, the proxy's CPU µs per request and its
# CPU over the backend's; then, against the first target, the median of the
# per-round req/s ratios (rounds run seconds apart, so a slow spell of the
# host hits both sides of a pair) and the medians. Needs ../shared/peerbench's
# binaries (its setup.sh) and wrk. Example, from the project root:
#
#   make build peerbench-tools
#   bench/peerbench/ab.sh 4 20 \
#     "naive|18091|/var/tmp/peerbench/bin/peerbench-naiveproxy -listen 127.0.0.1:18091 -upstream 127.0.0.1:18080" \
#     "edgeguard|18095|bin/edgeguard run -c bench/peerbench/ab-edgeguard.yaml"
set -u
(($# >= 3)) || { sed -n '2,21p' "$0"; exit 2; }
SECS=$1 ROUNDS=$2
shift 2
B=${PEERBENCH_BIN:-/var/tmp/peerbench/bin}
for f in "$B/peerbench-backend" "$B/peerbench-jwtgen"; do
  [[ -x $f ]] || { echo "ab.sh: $f missing: run ../shared/peerbench/setup.sh" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "ab.sh: wrk missing" >&2; exit 1; }
tmp=$(mktemp -d)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
taskset -c 1 "$B/peerbench-backend" -listen 127.0.0.1:18080 -procs 1 >"$tmp/backend.log" 2>&1 &
BP=$!
PIDS+=("$BP")
NAMES=() PORTS=() TP=()
for t in "$@"; do
  IFS='|' read -r name port cmd <<<"$t"
  NAMES+=("$name") PORTS+=("$port")
  taskset -c 1 env GOMAXPROCS=1 bash -c "exec $cmd" >"$tmp/$name.log" 2>&1 &
  TP+=($!) PIDS+=($!)
done
sleep 1.5
token=$("$B/peerbench-jwtgen" 2>/dev/null)
cat >"$tmp/req.lua" <<LUA
wrk.headers["User-Agent"]="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
wrk.headers["Accept"]="application/json"
wrk.headers["Authorization"]="Bearer $token"
LUA
for i in "${!NAMES[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:${PORTS[$i]}/v1/items")
  [[ $code == 200 ]] || { echo "ab.sh: ${NAMES[$i]} answered $code (log: $(tail -3 "$tmp/${NAMES[$i]}.log"))" >&2; exit 1; }
  taskset -c 0 wrk -t1 -c64 -d2s -s "$tmp/req.lua" "http://127.0.0.1:${PORTS[$i]}/v1/items" >/dev/null
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
# Even rounds run the targets in reverse order (ABBA), so that whatever the
# position in a round does (the backend's state, the host's drift within a
# round) falls on every target alike.
ORDER=("${!NAMES[@]}")
REVERSE=()
for ((k = ${#ORDER[@]} - 1; k >= 0; k--)); do REVERSE+=("${ORDER[$k]}"); done
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then seq_=("${ORDER[@]}"); else seq_=("${REVERSE[@]}"); fi
  for i in "${seq_[@]}"; do
    c0=$(cpu "${TP[$i]}") b0=$(cpu "$BP")
    out=$(taskset -c 0 wrk -t1 -c64 -d"${SECS}s" -s "$tmp/req.lua" "http://127.0.0.1:${PORTS[$i]}/v1/items")
    c1=$(cpu "${TP[$i]}") b1=$(cpu "$BP")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    n=$(awk '/requests in/{print $1}' <<<"$out")
    tick=$(getconf CLK_TCK)
    awk -v r="$r" -v name="${NAMES[$i]}" -v rps="$rps" -v n="$n" -v c=$((c1 - c0)) -v b=$((b1 - b0)) -v t="$tick" \
      'BEGIN{printf "%d %s %.0f %.2f %.3f\n", r, name, rps, c*1e6/t/n, (b ? c/b : 0)}'
  done
done | tee "$tmp/rounds.txt"
python3 - "$tmp/rounds.txt" <<'PY'
import collections, statistics, sys
d = collections.defaultdict(lambda: ([], [], []))
for line in open(sys.argv[1]):
    f = line.split()
    for i in range(3):
        d[f[1]][i].append(float(f[2 + i]))
first = next(iter(d))
print(f"--- {len(d[first][0])} rounds; columns above: round target req/s proxy-CPU-µs/request proxy/backend-CPU")
for k, (rps, cpu, ratio) in d.items():
    pr = [x / y for x, y in zip(rps, d[first][0])]
    print(f"{k:14s} req/s {statistics.median(rps):8.0f}  paired x {first}: {statistics.median(pr):.3f} ({min(pr):.3f}..{max(pr):.3f})"
          f"  proxy CPU {statistics.median(cpu):6.2f} µs/req  proxy/backend {statistics.median(ratio):.3f}")
PY
