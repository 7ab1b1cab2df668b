#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI document with schemathesis (from PyPI): every
# operation with generated valid and invalid input, as user01 and without a token; the
# check that must hold is "no 5xx" (none at all: the run neither overloads the service nor
# takes KOS down). Logout is left out (it would end the session the rest runs with;
# its inputs are covered by the tests). A database, a Redis key prefix and a spool folder
# of its own, removed afterwards however the run ends (also on Ctrl-C), by
# scripts/fuzz-cleanup.py, which needs neither psql nor redis-cli.
#   scripts/fuzz.sh [EXAMPLES_PER_OPERATION]     (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
scripts/services.sh >/dev/null
# curl and python3 with venv (scripts/tools.sh), before anything is created.
scripts/tools.sh
# Whatever fails says where, with the end of the server's log (the run is otherwise quiet
# about the service).
fail() {
  echo "fuzz: $1" >&2
  [ -f target/fuzz-serve.log ] && { echo "fuzz: end of target/fuzz-serve.log:" >&2; tail -n 30 target/fuzz-serve.log >&2; }
  exit 1
}
trap 'fail "line $LINENO failed: $BASH_COMMAND"' ERR
# schemathesis in a venv of its own, target/fuzz-venv (never whatever `st` is on PATH, so
# every machine runs the same one), on Debian's python3 and python3-venv (scripts/tools.sh).
if ! [ -x target/fuzz-venv/bin/st ]; then
  rm -rf target/fuzz-venv
  python3 -m venv target/fuzz-venv
  target/fuzz-venv/bin/pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
ST=target/fuzz-venv/bin/st
cargo build --locked --bin phonebill
ID=fuzz_$(date +%s)_$$
# A port nothing listens on (a random one once collided with RabbitMQ's 25672), below
# Linux's ephemeral range (32768 up): a port in it may be the local end of some client's
# connection, which nothing answers on and yet cannot be listened on (that happened).
for _ in $(seq 1 50); do
  PORT=$(( 20000 + RANDOM % 12000 ))
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
done
PG=postgres://postgres@127.0.0.1:5432 REDIS=redis://127.0.0.1:6379
export PHONEBILL__DATABASE__URL=$PG/pb$ID PHONEBILL__REDIS__URL=$REDIS
export PHONEBILL__REDIS__KEY_PREFIX="pb$ID:"
export PHONEBILL__SERVER__PORT=$PORT PHONEBILL__LOG__LEVEL=${LOG_LEVEL:-warn}
export PHONEBILL__RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE=0 PHONEBILL__RATE_LIMIT__REGISTER_PER_IP_PER_MINUTE=0
export PHONEBILL__KOS__REGISTRATION_CALLS_PER_MINUTE=0
# The clean-up is in place before anything is created; Ctrl-C or a TERM ends the run through
# it too. It needs only bash and the venv's python, and says so loudly when it failed.
PID=""
cleanup() {
  trap - ERR; trap '' INT TERM HUP; set +e
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
  target/fuzz-venv/bin/python scripts/fuzz-cleanup.py "$PG" "pb$ID" "$REDIS" "pb$ID:" ||
    echo "fuzz: CLEAN-UP FAILED: database pb$ID or Redis keys pb$ID:* are left behind (see above)" >&2
  if [ -n "${SPOOL:-}" ]; then rm -rf "$SPOOL"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
SPOOL=$(mktemp -d)
export PHONEBILL__ACTORS__HISTORY__SPOOL_DIR=$SPOOL
rm -f target/fuzz-serve.log
target/debug/phonebill seed-demo > target/fuzz-seed.log 2>&1 || {
  cat target/fuzz-seed.log >&2; fail "seed-demo failed"; }
target/debug/phonebill serve > target/fuzz-serve.log 2>&1 & PID=$!
ready=false
for _ in $(seq 1 600); do
  if curl -sf "localhost:$PORT/health/ready" >/dev/null; then ready=true; break; fi
  kill -0 $PID 2>/dev/null || fail "the service exited during start-up"
  sleep 0.1
done
$ready || fail "the service was not ready within 60 s"
LOGIN=$(curl -sS "localhost:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"userId":"user01","password":"Passw0rd!"}')
TOKEN=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$LOGIN")
[ -n "$TOKEN" ] || fail "login as user01 gave no token: $(head -c 300 <<<"$LOGIN")"
"$ST" run "http://127.0.0.1:$PORT/openapi.json" --url "http://127.0.0.1:$PORT" \
  -H "Authorization: Bearer $TOKEN" --checks not_a_server_error -n "$N" --seed 7 \
  --exclude-path /api/v1/auth/logout \
  --suppress-health-check all --report junit --report-dir target/fuzz-report
echo "server log (errors and warnings): target/fuzz-serve.log"
if grep -q '"status":500\|status=500' target/fuzz-serve.log; then
  fail "the server log records a 500"
fi
