#!/usr/bin/env bash
# Overload: authenticated bill inquiries from CONNS connections (default 320, ten times the
# 32 at which bench/ratio.sh saturates the service) for SECONDS (default 60). Samples the
# resident memory every 5 s, then counts the answers by status from /metrics: the excess
# must be shed as 503/429 (never 500), memory must stay flat, and service must recover.
#   bench/overload.sh [SECONDS] [CONNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
CONNS=${2:-320}
source bench/lib.sh
bench_need wrk "apt-get install wrk"
bench_batched_notifications
bench_serve 18086
TOKEN=$(bench_token user01)
echo "resident memory before: $(( $(ps -o rss= -p $PID) / 1024 )) MB"
TOKEN=$TOKEN MODE=hit wrk -t1 -c"$CONNS" -d"${SECS}s" --timeout 10s --latency \
  -s bench/bill_inquiry.lua "http://127.0.0.1:$PORT" > /tmp/phonebill-overload.$$ &
WRK=$!
for t in $(seq 5 5 "$SECS"); do sleep 5; echo "t=${t}s resident memory $(( $(ps -o rss= -p $PID) / 1024 )) MB"; done
wait $WRK
grep -E '50%|99%|requests in|Requests/sec|Non-2xx|Socket errors' /tmp/phonebill-overload.$$; rm -f /tmp/phonebill-overload.$$
echo "answers by status during the overload:"
curl -s localhost:$PORT/metrics | grep -E '^phonebill_http_request_duration_seconds_count\{method="POST",route="/api/v1/bills/inquiry"' | sed 's/.*status="\([0-9]*\)"} /  \1: /'
# Recovery: once the load stops, an inquiry is answered 200 again.
sleep 2
CODE=$(curl -s -o /dev/null -w '%{http_code}' localhost:$PORT/api/v1/bills/inquiry \
  -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"lineNumber":"01012345001"}')
echo "after the load: inquiry answered $CODE; resident memory $(( $(ps -o rss= -p $PID) / 1024 )) MB"
