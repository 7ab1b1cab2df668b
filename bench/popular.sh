#!/usr/bin/env bash
# GET /api/v1/store/products/popular (answered from memory, refreshed every
# [store] popular_refresh_ms from the per-hour sales) against a bare actix-web JSON handler
# of the same binary (GET /bench/bare), same load generator (wrk), with SMALL paid orders in
# the database, then with LARGE: its throughput must be flat (the ratio to bare at LARGE
# over the ratio at SMALL near 1), and the answer must match the orders.
#   bench/popular.sh [SECONDS] [CONNECTIONS] [SMALL] [LARGE]
# The orders are made by direct SQL (not through the API: a million orders would take
# far too long), over the last 70 hours, on PRODUCTS_N (50) products of the admin API, by
# USERS (1000) load users, 1-3 units each, consistent with what the audit checks (each
# order's items, its USE ledger entry balanced by a CHARGE, the units put on sale, the
# hour's sales); `phonebill store-audit` runs at the end. Bare and popular are alternated
# ROUNDS (2) times at each size.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-32}
SMALL=${3:-10000}
LARGE=${4:-1000000}
PRODUCTS_N=${PRODUCTS_N:-50}
USERS=${USERS:-1000}
ROUNDS=${ROUNDS:-2}
source bench/lib.sh
bench_need wrk "apt-get install wrk"
export PHONEBILL__ADMIN__BENCH_ENDPOINTS=true
export PHONEBILL__AUTH__ARGON2_MEMORY_KIB=64 PHONEBILL__AUTH__ARGON2_ITERATIONS=1
bench_serve 18092 --load-users "$USERS"
Q() { psql -qtA -h 127.0.0.1 -U postgres -d phonebill_bench -c "$1"; }
ADMIN=$(bench_token admin)
TOKEN=$(bench_token user01)
product() { # NAME PRICE -> product id
  curl -sf "localhost:$PORT/api/v1/store/admin/products" -H "authorization: Bearer $ADMIN" \
    -H 'content-type: application/json' \
    -d "{\"name\":\"$1\",\"price\":$2,\"stock\":1000,\"description\":\"bench/popular.sh\"}" |
    sed -n 's/.*"productId":\([0-9]*\).*/\1/p'
}
FIRST=$(product "bench popular 1" 1000)
for i in $(seq 2 "$PRODUCTS_N"); do LAST=$(product "bench popular $i" $((1000 + i * 10))); done
LAST=${LAST:-$FIRST}
echo "== products $FIRST-$LAST; orders by $USERS load users =="

# Paid orders FROM..TO (numbers), in one transaction: skewed over the products (the square
# of a uniform number), so that the top 5 are well apart.
generate() { # FROM TO
  psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d phonebill_bench <<SQL
BEGIN;
CREATE TEMP TABLE gen ON COMMIT DROP AS
  SELECT gen_random_uuid() AS order_id, i,
         'load' || lpad((1 + i % $USERS)::text, 5, '0') AS user_id,
         $FIRST + floor(power(random(), 2) * ($LAST - $FIRST + 1))::bigint AS product_id,
         1 + floor(random() * 3)::int AS quantity,
         now() - random() * interval '70 hours' AS at
    FROM generate_series($1, $2) AS i;
INSERT INTO store_orders (order_id, user_id, status, reason, total_amount, discount_amount,
                          paid_amount, coupon_id, request_id, balance_after, created_at,
                          deadline, paid_at, settled_at)
  SELECT g.order_id, g.user_id, 'PAID', NULL, p.price * g.quantity, 0, p.price * g.quantity,
         NULL, 'bench-popular-' || g.i, 0, g.at, g.at + interval '60 seconds', g.at, g.at
    FROM gen g JOIN store_products p USING (product_id);
INSERT INTO store_order_items (order_id, product_id, name, unit_price, quantity)
  SELECT g.order_id, g.product_id, p.name, p.price, g.quantity
    FROM gen g JOIN store_products p USING (product_id);
INSERT INTO store_wallets (user_id, balance)
  SELECT DISTINCT user_id, 0 FROM gen ON CONFLICT (user_id) DO NOTHING;
-- What each user spent, charged first (the balance stays what it was).
INSERT INTO store_ledger (transaction_id, user_id, kind, amount, balance_after, created_at)
  SELECT gen_random_uuid(), g.user_id, 'CHARGE', sum(p.price * g.quantity),
         sum(p.price * g.quantity), min(g.at) - interval '1 second'
    FROM gen g JOIN store_products p USING (product_id) GROUP BY g.user_id;
INSERT INTO store_ledger (transaction_id, user_id, kind, amount, balance_after, order_id, created_at)
  SELECT gen_random_uuid(), g.user_id, 'USE', p.price * g.quantity, 0, g.order_id, g.at
    FROM gen g JOIN store_products p USING (product_id);
UPDATE store_products p SET stocked = p.stocked + s.units
  FROM (SELECT product_id, sum(quantity) AS units FROM gen GROUP BY product_id) s
 WHERE p.product_id = s.product_id;
INSERT INTO store_sales_hourly (product_id, hour, slot, quantity)
  SELECT product_id, date_trunc('hour', at), (abs(hashtext(order_id::text)) % 8)::smallint, sum(quantity)
    FROM gen GROUP BY 1, 2, 3
  ON CONFLICT (product_id, hour, slot)
  DO UPDATE SET quantity = store_sales_hourly.quantity + EXCLUDED.quantity;
COMMIT;
SQL
}
fill() { # TOTAL: paid orders up to TOTAL, a chunk of at most 250,000 a transaction
  local have started
  have=$(Q "SELECT count(*) FROM store_orders WHERE request_id LIKE 'bench-popular-%'")
  started=$(date +%s.%N)
  while [ "$have" -lt "$1" ]; do
    local to=$(( have + 250000 < $1 ? have + 250000 : $1 ))
    generate $((have + 1)) "$to"
    have=$to
  done
  # Vacuumed now, so that no autovacuum of the new rows runs while wrk measures.
  Q "VACUUM (ANALYZE) store_orders, store_order_items, store_sales_hourly, store_ledger, store_products, store_wallets" >/dev/null
  while [ "$(Q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")" -gt 0 ]; do sleep 1; done
  printf '== %d paid orders in the database (%.0f s to make); %s rows of per-hour sales ==\n' \
    "$(Q "SELECT count(*) FROM store_orders WHERE status = 'PAID'")" \
    "$(echo "$(date +%s.%N) - $started" | bc -l)" "$(Q "SELECT count(*) FROM store_sales_hourly")"
}
# The refresh's own query (infra::store::orders::best_sellers), timed by PostgreSQL.
refresh_cost() {
  Q "EXPLAIN (ANALYZE, FORMAT TEXT) SELECT s.product_id, p.name, p.price, p.stock, s.sold
       FROM (SELECT product_id, sum(quantity)::bigint AS sold FROM store_sales_hourly
              WHERE hour > now() - make_interval(hours => 72 + 1) GROUP BY product_id) s
       JOIN store_products p USING (product_id) ORDER BY s.sold DESC, s.product_id LIMIT 5" |
    awk '/Execution Time/ {print $3 " ms"}'
}
# The answer against the orders: the top 5 by paid units of the last 72 hours.
compare() {
  local api sql
  sleep 2 # one refresh at least
  api=$(curl -s "localhost:$PORT/api/v1/store/products/popular" -H "authorization: Bearer $TOKEN" |
    grep -o '"productId":[0-9]*\|"soldQuantity":[0-9]*' | cut -d: -f2 | paste -sd' ' |
    awk '{ for (i = 1; i < NF; i += 2) printf "%s%s:%s", (i > 1 ? " " : ""), $i, $(i + 1) }')
  sql=$(Q "SELECT string_agg(product_id || ':' || sold, ' ' ORDER BY sold DESC, product_id) FROM (
       SELECT i.product_id, sum(i.quantity) AS sold FROM store_order_items i JOIN store_orders o USING (order_id)
        WHERE o.status = 'PAID' AND o.paid_at > now() - interval '72 hours'
        GROUP BY i.product_id ORDER BY sold DESC, i.product_id LIMIT 5) t")
  echo "popular (productId:soldQuantity): $api"
  echo "from the orders:                  $sql$([ "$api" = "$sql" ] || echo '  <-- DIFFERENT')"
}
measure() { # LABEL -> sets RATIO (bare and popular alternated ROUNDS times, rates summed)
  local bare pop b=0 p=0
  for _ in $(seq 1 "$ROUNDS"); do
    echo "== $1: bare handler (GET /bench/bare), $CONNS connections, ${SECS}s =="
    bare=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT/bench/bare")
    echo "$bare" | grep -E '50%|99%|Requests/sec|Non-2xx|Socket errors'
    echo "== $1: GET /store/products/popular, $CONNS connections, ${SECS}s =="
    pop=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" \
      "http://127.0.0.1:$PORT/api/v1/store/products/popular")
    echo "$pop" | grep -E '50%|99%|Requests/sec|Non-2xx|Socket errors'
    b=$(echo "$b + $(echo "$bare" | awk '/Requests\/sec/ {print $2}')" | bc -l)
    p=$(echo "$p + $(echo "$pop" | awk '/Requests\/sec/ {print $2}')" | bc -l)
  done
  RATIO=$(echo "$p / $b" | bc -l)
  printf 'ratio (popular / bare) at %s: %.3f (%.0f / %.0f requests/s)\n' "$1" "$RATIO" \
    "$(echo "$p / $ROUNDS" | bc -l)" "$(echo "$b / $ROUNDS" | bc -l)"
  echo "refresh query: $(refresh_cost)"
}
fill "$SMALL"
compare
measure "$SMALL orders"; R_SMALL=$RATIO
fill "$LARGE"
compare
measure "$LARGE orders"; R_LARGE=$RATIO
printf 'flatness (ratio at %d / ratio at %d): %.3f\n' "$LARGE" "$SMALL" "$(echo "$R_LARGE / $R_SMALL" | bc -l)"
started=$(date +%s.%N)
rc=0; target/release/phonebill store-audit || rc=$?
printf 'store-audit over %d orders: exit %d (%.1f s)\n' "$LARGE" "$rc" "$(echo "$(date +%s.%N) - $started" | bc -l)"
exit "$rc"
