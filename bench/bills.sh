#!/usr/bin/env bash
# Bill inquiry latency over HTTP: cache hits (memory tier) against cache misses (one KOS call
# each, built-in simulator), in one run. Needs wrk.   bench/bills.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
PORT=18081
scripts/services.sh >/dev/null
command -v wrk >/dev/null || { echo "bench: install wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked --bin phonebill 2>/dev/null
export PHONEBILL__DATABASE__URL=postgres://postgres@127.0.0.1:5432/phonebill_bench
export PHONEBILL__REDIS__KEY_PREFIX="phonebill-bench:$(date +%s):"
export PHONEBILL__SERVER__PORT=$PORT PHONEBILL__LOG__LEVEL=warn
export PHONEBILL__ACTORS__HISTORY__SPOOL_DIR=$(mktemp -d)
target/release/phonebill seed-demo >/dev/null
target/release/phonebill serve & PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf localhost:$PORT/health/ready >/dev/null && break; sleep 0.1; done
token() { curl -s localhost:$PORT/api/v1/auth/login -H 'content-type: application/json' \
  -d "{\"userId\":\"$1\",\"password\":\"Passw0rd!\"}" | sed 's/.*"access_token":"\([^"]*\)".*/\1/'; }
USER=$(token user01); ADMIN=$(token admin)
curl -s -o /dev/null localhost:$PORT/api/v1/bills/inquiry -H "authorization: Bearer $USER" \
  -H 'content-type: application/json' -d '{"lineNumber":"01012345001"}'
echo "== cache hit (memory tier), 16 connections =="
TOKEN=$USER MODE=hit wrk -t1 -c16 -d"${SECS}s" --latency -s bench/bill_inquiry.lua "http://127.0.0.1:$PORT" \
  | grep -E 'Latency|50%|90%|99%|Requests/sec|Non-2xx'
echo "== cache miss (KOS call each), 16 connections =="
TOKEN=$ADMIN MODE=miss START=$((RANDOM * 20)) wrk -t1 -c16 -d"${SECS}s" --latency -s bench/bill_inquiry.lua "http://127.0.0.1:$PORT" \
  | grep -E 'Latency|50%|90%|99%|Requests/sec|Non-2xx'
