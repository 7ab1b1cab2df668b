#!/usr/bin/env bash
# Authenticated cache-hit POST /api/v1/bills/inquiry throughput against a bare actix-web JSON
# handler of the same binary (GET /bench/bare), same load generator, one run.
#   bench/ratio.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
CONNS=${2:-32}
source bench/lib.sh
bench_need wrk "apt-get install wrk"
bench_batched_notifications
export PHONEBILL__ADMIN__BENCH_ENDPOINTS=true
bench_serve 18084
TOKEN=$(bench_token user01)
curl -s -o /dev/null localhost:$PORT/api/v1/bills/inquiry -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"lineNumber":"01012345001"}'
echo "== bare handler (GET /bench/bare), $CONNS connections, ${SECS}s =="
BARE=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT/bench/bare")
echo "$BARE" | grep -E '50%|99%|Requests/sec|Non-2xx'
echo "== cache-hit bill inquiry, $CONNS connections, ${SECS}s =="
HIT=$(TOKEN=$TOKEN MODE=hit wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s bench/bill_inquiry.lua "http://127.0.0.1:$PORT")
echo "$HIT" | grep -E '50%|99%|Requests/sec|Non-2xx'
B=$(echo "$BARE" | awk '/Requests\/sec/ {print $2}'); H=$(echo "$HIT" | awk '/Requests\/sec/ {print $2}')
# Only answered (200) inquiries count: a 503 shed by a full history writer is not a hit.
N=$(echo "$HIT" | awk '/requests in/ {print $1}'); E=$(echo "$HIT" | awk '/Non-2xx/ {print $5}')
OK=$(echo "(${N} - ${E:-0}) / $SECS" | bc -l)
printf 'answered cache hits/s: %.0f of %.0f requests/s (%s shed as 503)\n' "$OK" "$H" "${E:-0}"
printf 'ratio (answered cache hits / bare): %.3f\n' "$(echo "$OK / $B" | bc -l)"
S=$(date +%s)
curl -s localhost:$PORT/metrics | grep -E '^phonebill_(history_writer\{measure="buffered"|mvno_outbox\{measure="pending")'
echo "resident memory at the end of the load: $(ps -o rss= -p $PID) KB"
# The backlogs the run left: how long until the history buffer and the MVNO outbox are empty.
until curl -s localhost:$PORT/metrics | grep -qE '^phonebill_mvno_outbox\{measure="pending"\} 0$'; do sleep 1; done
echo "history buffer and MVNO outbox empty $(( $(date +%s) - S ))s after the load"
