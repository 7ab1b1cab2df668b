#!/usr/bin/env bash
# Authenticated cache-hit POST /api/v1/bills/inquiry throughput against a bare actix-web JSON
# handler of the same binary (GET /bench/bare), same load generator, one run.
#   bench/ratio.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
CONNS=${2:-32}
PORT=18084
scripts/services.sh >/dev/null
command -v wrk >/dev/null || { echo "bench: install wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked --bin phonebill 2>/dev/null
export PHONEBILL__DATABASE__URL=postgres://postgres@127.0.0.1:5432/phonebill_bench
export PHONEBILL__REDIS__KEY_PREFIX="phonebill-bench:$(date +%s):"
export PHONEBILL__SERVER__PORT=$PORT PHONEBILL__LOG__LEVEL=warn PHONEBILL__ADMIN__BENCH_ENDPOINTS=true
export PHONEBILL__ACTORS__HISTORY__SPOOL_DIR=$(mktemp -d)
target/release/phonebill seed-demo >/dev/null
target/release/phonebill serve & PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf localhost:$PORT/health/ready >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -s localhost:$PORT/api/v1/auth/login -H 'content-type: application/json' \
  -d '{"userId":"user01","password":"Passw0rd!"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
curl -s -o /dev/null localhost:$PORT/api/v1/bills/inquiry -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"lineNumber":"01012345001"}'
echo "== bare handler (GET /bench/bare), $CONNS connections, ${SECS}s =="
BARE=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT/bench/bare")
echo "$BARE" | grep -E '50%|99%|Requests/sec|Non-2xx'
echo "== cache-hit bill inquiry, $CONNS connections, ${SECS}s =="
HIT=$(TOKEN=$TOKEN MODE=hit wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s bench/bill_inquiry.lua "http://127.0.0.1:$PORT")
echo "$HIT" | grep -E '50%|99%|Requests/sec|Non-2xx'
B=$(echo "$BARE" | awk '/Requests\/sec/ {print $2}'); H=$(echo "$HIT" | awk '/Requests\/sec/ {print $2}')
printf 'ratio (cache hit / bare): %.3f\n' "$(echo "$H / $B" | bc -l)"
sleep 5
curl -s localhost:$PORT/metrics | grep -E '^phonebill_(history_writer\{measure="buffered"|mvno_outbox\{measure="pending")'
echo "resident memory: $(ps -o rss= -p $PID) KB"
