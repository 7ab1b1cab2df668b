#!/usr/bin/env bash
# Bill inquiry latency over HTTP: cache hits (memory tier) against cache misses (one KOS call
# each, built-in simulator), in one run. Needs wrk.   bench/bills.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
source bench/lib.sh
bench_need wrk "apt-get install wrk"
bench_serve 18081
USER=$(bench_token user01); ADMIN=$(bench_token admin)
curl -s -o /dev/null localhost:$PORT/api/v1/bills/inquiry -H "authorization: Bearer $USER" \
  -H 'content-type: application/json' -d '{"lineNumber":"01012345001"}'
echo "== cache hit (memory tier), 16 connections =="
TOKEN=$USER MODE=hit wrk -t1 -c16 -d"${SECS}s" --latency -s bench/bill_inquiry.lua "http://127.0.0.1:$PORT" \
  | grep -E 'Latency|50%|90%|99%|Requests/sec|Non-2xx'
echo "== cache miss (KOS call each), 16 connections =="
TOKEN=$ADMIN MODE=miss START=$((RANDOM * 20)) wrk -t1 -c16 -d"${SECS}s" --latency -s bench/bill_inquiry.lua "http://127.0.0.1:$PORT" \
  | grep -E 'Latency|50%|90%|99%|Requests/sec|Non-2xx'
