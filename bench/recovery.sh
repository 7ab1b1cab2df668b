#!/usr/bin/env bash
# Recovery latency (SPEC section 9, seed 5-1): with [store] pending_recovery_s = DEADLINE and
# fault injection on, arms STEP for N orders (POST /admin/faults/store), sends N orders (each
# must answer 202 ORDER_PENDING; the first order of each user holds a WELCOME coupon), then
# waits until none is PENDING. Reports, from SQL, settled_at - created_at of the CANCELED
# orders (p50/p99/max) against the deadline (target: p99 <= DEADLINE + 2 s), checks that the
# balances, the stock and the coupons are all given back, and runs `phonebill store-audit`.
#   bench/recovery.sh [N] [USERS] [DEADLINE]
# Env: STEP (after_reserve | before_paid; after_reserve), PARALLEL (orders in flight, 8),
# PRODUCTS_N (10).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500}
USERS=${2:-50}
DEADLINE=${3:-5}
STEP=${STEP:-after_reserve}
PARALLEL=${PARALLEL:-8}
PRODUCTS_N=${PRODUCTS_N:-10}
source bench/lib.sh
# The service warns of each order it leaves pending on purpose: those N lines are dropped
# (every other line of its log is kept).
exec > >(grep --line-buffered -v -e 'fault injection: order left pending after its reserve' \
  -e 'fault injection: the confirm transaction failed before its commit')
export PHONEBILL__STORE__PENDING_RECOVERY_S=$DEADLINE PHONEBILL__ADMIN__FAULT_INJECTION=true
export PHONEBILL__RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE=0
export PHONEBILL__AUTH__ARGON2_MEMORY_KIB=64 PHONEBILL__AUTH__ARGON2_ITERATIONS=1
bench_serve 18091 --load-users "$USERS"
TOKENS=$(mktemp)
trap 'rm -f "$TOKENS"; kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
Q() { psql -qtA -h 127.0.0.1 -U postgres -d phonebill_bench -c "$1"; }
ADMIN=$(bench_token admin)
product() { # NAME -> product id (1,000 won, 100,000 units)
  curl -sf "localhost:$PORT/api/v1/store/admin/products" -H "authorization: Bearer $ADMIN" \
    -H 'content-type: application/json' \
    -d "{\"name\":\"$1\",\"price\":1000,\"stock\":100000,\"description\":\"bench/recovery.sh\"}" |
    sed -n 's/.*"productId":\([0-9]*\).*/\1/p'
}
FIRST=$(product "bench recovery 1")
for i in $(seq 2 "$PRODUCTS_N"); do LAST=$(product "bench recovery $i"); done
LAST=${LAST:-$FIRST}
python3 bench/coupon_tokens.py "$PORT" "$USERS" 4 >"$TOKENS"
# Each order: 10 units of a 1,000-won product (10,000 won, WELCOME's minimum order).
CHARGES=$(( N * 10000 / USERS / 100000 + 1 ))
COUPONS=$(mktemp)
python3 - "$PORT" "$TOKENS" "$CHARGES" >"$COUPONS" <<'EOF'
import http.client, json, sys, uuid
from concurrent.futures import ThreadPoolExecutor
port, charges = int(sys.argv[1]), int(sys.argv[3])
tokens = [l.strip() for l in open(sys.argv[2]) if l.strip()]
def prepare(token):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    h = {"content-type": "application/json", "authorization": "Bearer " + token}
    for _ in range(charges):
        conn.request("POST", "/api/v1/store/points/charge", json.dumps({"amount": 100000}),
                     dict(h, **{"idempotency-key": "bench-charge-" + str(uuid.uuid4())}))
        res = conn.getresponse(); data = res.read()
        if res.status != 200:
            raise SystemExit("charge: %d %s" % (res.status, data[:200]))
    conn.request("POST", "/api/v1/store/coupons", json.dumps({"couponCode": "WELCOME"}), h)
    res = conn.getresponse(); data = res.read()
    if res.status != 200:
        raise SystemExit("coupon claim: %d %s" % (res.status, data[:200]))
    return json.loads(data)["data"]["couponId"]
with ThreadPoolExecutor(4) as pool:
    for c in pool.map(prepare, tokens):
        print(c)
EOF
echo "== $(wc -l <"$TOKENS") users logged in, $CHARGES × 100,000 points and a WELCOME coupon each; products $FIRST-$LAST =="

snapshot() {
  Q "SELECT (SELECT COALESCE(sum(balance), 0) FROM store_wallets WHERE user_id LIKE 'load%'),
            (SELECT sum(stock) FROM store_products WHERE product_id BETWEEN $FIRST AND $LAST),
            (SELECT count(*) FROM store_coupons WHERE user_id LIKE 'load%' AND status = 'AVAILABLE')" | tr '|' ' '
}
read -r BAL0 STOCK0 AVAIL0 < <(snapshot)
echo "before: balances $BAL0, stock $STOCK0, coupons AVAILABLE $AVAIL0"

echo "== arm $STEP for $N orders (deadline ${DEADLINE}s) =="
curl -sf "localhost:$PORT/admin/faults/store" -H "authorization: Bearer $ADMIN" \
  -H 'content-type: application/json' -d "{\"step\":\"$STEP\",\"count\":$N}"; echo
echo "== $N orders, $PARALLEL in flight =="
python3 - "$PORT" "$TOKENS" "$COUPONS" "$N" "$PARALLEL" "$FIRST" "$LAST" <<'EOF'
import collections, http.client, json, sys, threading, time, uuid
from concurrent.futures import ThreadPoolExecutor
port = int(sys.argv[1])
tokens = [l.strip() for l in open(sys.argv[2]) if l.strip()]
coupons = [int(l) for l in open(sys.argv[3]) if l.strip()]
n, parallel, first, last = (int(a) for a in sys.argv[4:8])
local = threading.local()
def order(i):
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPConnection("127.0.0.1", port)
    u = i % len(tokens)
    body = {"items": [{"productId": first + i % (last - first + 1), "quantity": 10}]}
    if i < len(tokens):
        body["couponId"] = coupons[u]
    local.conn.request("POST", "/api/v1/store/orders", json.dumps(body), {
        "content-type": "application/json", "authorization": "Bearer " + tokens[u],
        "idempotency-key": "bench-recovery-" + str(uuid.uuid4())})
    res = local.conn.getresponse()
    data = res.read()
    return res.status, data
started = time.time()
statuses = collections.Counter()
samples = {}
with ThreadPoolExecutor(parallel) as pool:
    for status, data in pool.map(order, range(n)):
        statuses[status] += 1
        if status != 202:
            samples.setdefault(status, data[:300])
took = time.time() - started
print("sent %d orders in %.2f s: %s" % (n, took, ", ".join("%d × %d" % (c, s) for s, c in sorted(statuses.items()))))
for s, d in samples.items():
    print("  e.g. %d: %s" % (s, d.decode(errors="replace")))
EOF
read -r BAL1 STOCK1 AVAIL1 < <(snapshot)
echo "held while pending: points $((BAL0 - BAL1)), units $((STOCK0 - STOCK1)), coupons $((AVAIL0 - AVAIL1)); PENDING: $(Q "SELECT count(*) FROM store_orders WHERE status = 'PENDING'")"

started=$(date +%s.%N)
limit=$((DEADLINE + 60))
while :; do
  left=$(Q "SELECT count(*) FROM store_orders WHERE status = 'PENDING'")
  [ "$left" -eq 0 ] && break
  if [ "$(echo "$(date +%s.%N) - $started > $limit" | bc)" -eq 1 ]; then
    echo "bench: $left orders still PENDING ${limit}s after the last was sent" >&2; break
  fi
  sleep 0.2
done
printf 'none PENDING %.1f s after the last order was answered\n' "$(echo "$(date +%s.%N) - $started" | bc -l)"
echo "orders by status: $(Q "SELECT string_agg(status || COALESCE(' ' || reason, '') || ' ' || n, ', ') FROM (SELECT status, reason, count(*) AS n FROM store_orders GROUP BY status, reason) s")"
echo "== settled_at - created_at of the CANCELED orders (deadline ${DEADLINE}s, target p99 <= $((DEADLINE + 2))s) =="
read -r CNT P50 P99 MAX MIN LATE < <(Q "SELECT count(*),
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM settled_at - created_at))::numeric, 3),
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM settled_at - created_at))::numeric, 3),
    round(max(extract(epoch FROM settled_at - created_at))::numeric, 3),
    round(min(extract(epoch FROM settled_at - created_at))::numeric, 3),
    round(max(extract(epoch FROM settled_at - deadline))::numeric, 3)
  FROM store_orders WHERE status = 'CANCELED'" | tr '|' ' ')
echo "canceled: $CNT; p50 ${P50}s, p99 ${P99}s, max ${MAX}s, min ${MIN}s; latest past its deadline ${LATE}s"
VERDICT=ok
[ "$(echo "${P99:-999} <= $DEADLINE + 2" | bc)" -eq 1 ] || VERDICT="MISSED"
[ "${CNT:-0}" -eq "$N" ] || VERDICT="MISSED ($CNT of $N canceled)"
echo "p99 ${P99}s vs target $((DEADLINE + 2))s: $VERDICT"
echo "settled per second: $(Q "SELECT string_agg(n::text, ' ' ORDER BY s) FROM (SELECT date_trunc('second', settled_at) AS s, count(*) AS n FROM store_orders WHERE status = 'CANCELED' GROUP BY 1) x")"
read -r BAL2 STOCK2 AVAIL2 < <(snapshot)
RESTORED=yes
[ "$BAL2" -eq "$BAL0" ] && [ "$STOCK2" -eq "$STOCK0" ] && [ "$AVAIL2" -eq "$AVAIL0" ] || RESTORED=NO
echo "after: balances $BAL2, stock $STOCK2, coupons AVAILABLE $AVAIL2: restored $RESTORED"
echo "RESTORE ledger rows: $(Q "SELECT count(*) || ', ' || COALESCE(sum(amount), 0) || ' points' FROM store_ledger WHERE kind = 'RESTORE'")"
rc=0
target/release/phonebill store-audit || rc=$?
rm -f "$COUPONS"
[ "$rc" -eq 0 ] && [ "$RESTORED" = yes ] && [ "$VERDICT" = ok ] || exit 1
