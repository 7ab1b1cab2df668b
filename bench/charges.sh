#!/usr/bin/env bash
# Points charges spread over many users (POST /api/v1/store/points/charge, 1,000 won each,
# round-robin over USERS load users) against a bare actix-web JSON handler of the same
# binary (GET /bench/bare), same load generator, one run; then checks that every answered
# charge is one ledger row and that every balance equals its ledger.
#   bench/charges.sh [SECONDS] [CONNECTIONS] [USERS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
CONNS=${2:-32}
USERS=${3:-200}
source bench/lib.sh
bench_need wrk "apt-get install wrk"
export PHONEBILL__ADMIN__BENCH_ENDPOINTS=true
# Logins are not what is measured: let the bench's own logins through.
export PHONEBILL__RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE=0
bench_serve 18086 --load-users "$USERS"
TOKENS=$(mktemp)
# A few logins at a time, retried while the hashing queue is full (logins are not measured).
python3 bench/coupon_tokens.py "$PORT" "$USERS" 4 >"$TOKENS"
echo "== $(wc -l <"$TOKENS") users logged in =="
echo "== bare handler (GET /bench/bare), $CONNS connections, ${SECS}s =="
BARE=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT/bench/bare")
echo "$BARE" | grep -E '50%|99%|Requests/sec|Non-2xx'
echo "== charges over $USERS users, $CONNS connections, ${SECS}s =="
CH=$(TOKENS=$TOKENS wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s bench/charge.lua "http://127.0.0.1:$PORT")
echo "$CH" | grep -E '50%|99%|Requests/sec|Non-2xx'
B=$(echo "$BARE" | awk '/Requests\/sec/ {print $2}')
N=$(echo "$CH" | awk '/requests in/ {print $1}'); E=$(echo "$CH" | awk '/Non-2xx/ {print $5}')
OK=$(echo "(${N} - ${E:-0}) / $SECS" | bc -l)
printf 'charges/s answered 200: %.0f (%s non-2xx)\n' "$OK" "${E:-0}"
printf 'ratio (charges / bare): %.3f\n' "$(echo "$OK / $B" | bc -l)"
Q() { psql -qtA -h 127.0.0.1 -U postgres -d phonebill_bench -c "$1"; }
echo "ledger rows of load users: $(Q "SELECT count(*) FROM store_ledger WHERE user_id LIKE 'load%'") (answered: $(( N - ${E:-0} )))"
echo "wallets differing from their ledger: $(Q "SELECT count(*) FROM store_wallets w WHERE balance <> (SELECT COALESCE(sum(CASE kind WHEN 'USE' THEN -amount ELSE amount END), 0) FROM store_ledger l WHERE l.user_id = w.user_id)")"
rm -f "$TOKENS"
