#!/usr/bin/env bash
# Authenticated cache-hit POST /api/v1/bills/inquiry throughput against a baseline handler of
# the same process, same load generator, alternated in one run (issue 16's definition):
# ROUNDS rounds of [baseline, inquiry], SECONDS each, and the ratio of each round.
#   bench/ratio.sh [SECONDS] [CONNECTIONS]
#   BASELINE=/health/live (default) or /bench/bare (issue 6's baseline); ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-64}
ROUNDS=${ROUNDS:-3}
BASELINE=${BASELINE:-/health/live}
source bench/lib.sh
bench_need wrk "apt-get install wrk"
bench_need bc "apt-get install bc"
bench_batched_notifications
export PHONEBILL__ADMIN__BENCH_ENDPOINTS=true
bench_serve 18084
TOKEN=$(bench_token user01)
curl -s -o /dev/null localhost:$PORT/api/v1/bills/inquiry -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"lineNumber":"01012345001"}'
echo "== $ROUNDS rounds of [GET $BASELINE, cache-hit bill inquiry], $CONNS connections, ${SECS}s each =="
RATIOS=()
for r in $(seq 1 "$ROUNDS"); do
  BASE=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT$BASELINE")
  PB0=$(bench_cpu phonebill); PG0=$(bench_cpu postgres); RD0=$(bench_cpu redis-server)
  HIT=$(TOKEN=$TOKEN MODE=hit wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s bench/bill_inquiry.lua "http://127.0.0.1:$PORT")
  PB=$(echo "$(bench_cpu phonebill) - $PB0" | bc -l); PG=$(echo "$(bench_cpu postgres) - $PG0" | bc -l)
  RD=$(echo "$(bench_cpu redis-server) - $RD0" | bc -l)
  B=$(echo "$BASE" | awk '/Requests\/sec/ {print $2}')
  # Only answered (200) inquiries count: a 503 shed by a full history writer is not a hit.
  N=$(echo "$HIT" | awk '/requests in/ {print $1}'); E=$(echo "$HIT" | awk '/Non-2xx/ {print $5}')
  OK=$(echo "(${N} - ${E:-0}) / $SECS" | bc -l)
  P99B=$(echo "$BASE" | awk '$1 == "99%" {print $2}'); P99H=$(echo "$HIT" | awk '$1 == "99%" {print $2}')
  RATIO=$(echo "$OK / $B" | bc -l)
  RATIOS+=("$RATIO")
  printf 'round %d: baseline %.0f/s (p99 %s), answered cache hits %.0f/s (p99 %s, %s shed as 503): ratio %.3f\n' \
    "$r" "$B" "$P99B" "$OK" "$P99H" "${E:-0}" "$RATIO"
  printf '  CPU per answered inquiry: phonebill %.3f ms, PostgreSQL %.3f ms, Redis %.3f ms\n' \
    "$(echo "1000 * $PB / ($OK * $SECS)" | bc -l)" "$(echo "1000 * $PG / ($OK * $SECS)" | bc -l)" \
    "$(echo "1000 * $RD / ($OK * $SECS)" | bc -l)"
done
printf 'ratio per round: %s\n' "$(printf '%.3f ' "${RATIOS[@]}")"
printf 'median ratio (answered cache hits / baseline): %.3f\n' \
  "$(printf '%s\n' "${RATIOS[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
S=$(date +%s)
curl -s localhost:$PORT/metrics | grep -E '^phonebill_(history_writer\{measure="buffered"|mvno_outbox\{measure="pending")'
echo "resident memory at the end of the load: $(ps -o rss= -p $PID) KB"
# The backlogs the run left: how long until the history buffer and the MVNO outbox are empty.
until curl -s localhost:$PORT/metrics | grep -qE '^phonebill_mvno_outbox\{measure="pending"\} 0$'; do sleep 1; done
echo "history buffer and MVNO outbox empty $(( $(date +%s) - S ))s after the load"
