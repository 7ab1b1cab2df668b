#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI document with schemathesis (from PyPI): every
# operation with generated valid and invalid input, as user01 and without a token; the
# check that must hold is "no 5xx" (none at all: the run neither overloads the service nor
# takes KOS down). Logout is left out (it would end the session the rest runs with;
# its inputs are covered by the tests). A database of its own, removed afterwards.
#   scripts/fuzz.sh [EXAMPLES_PER_OPERATION]     (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
scripts/services.sh >/dev/null
# schemathesis: the one on PATH, or one installed into target/fuzz-venv (Debian's python3
# and python3-venv first, when missing).
ST=$(command -v st || true)
if [ -z "$ST" ]; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 python3-venv >/dev/null
  fi
  [ -x target/fuzz-venv/bin/st ] || {
    python3 -m venv target/fuzz-venv && target/fuzz-venv/bin/pip install --quiet schemathesis
  }
  ST=target/fuzz-venv/bin/st
fi
cargo build --locked --bin phonebill
ID=fuzz_$(date +%s)_$$
PORT=$(( 20000 + RANDOM % 20000 ))
export PHONEBILL__DATABASE__URL=postgres://postgres@127.0.0.1:5432/pb$ID
export PHONEBILL__REDIS__KEY_PREFIX="pb$ID:"
export PHONEBILL__SERVER__PORT=$PORT PHONEBILL__LOG__LEVEL=${LOG_LEVEL:-warn}
export PHONEBILL__RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE=0 PHONEBILL__RATE_LIMIT__REGISTER_PER_IP_PER_MINUTE=0
export PHONEBILL__ACTORS__HISTORY__SPOOL_DIR=$(mktemp -d)
target/debug/phonebill seed-demo >/dev/null
target/debug/phonebill serve > target/fuzz-serve.log 2>&1 & PID=$!
cleanup() {
  kill $PID 2>/dev/null; wait $PID 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS pb$ID WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "pb$ID:*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null 2>&1 || true
  rm -rf "$PHONEBILL__ACTORS__HISTORY__SPOOL_DIR"
}
trap cleanup EXIT
for _ in $(seq 1 200); do curl -sf localhost:$PORT/health/ready >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -s localhost:$PORT/api/v1/auth/login -H 'content-type: application/json' \
  -d '{"userId":"user01","password":"Passw0rd!"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
"$ST" run "http://127.0.0.1:$PORT/openapi.json" --url "http://127.0.0.1:$PORT" \
  -H "Authorization: Bearer $TOKEN" --checks not_a_server_error -n "$N" --seed 7 \
  --exclude-path /api/v1/auth/logout \
  --suppress-health-check all --report junit --report-dir target/fuzz-report
echo "server log (errors and warnings): target/fuzz-serve.log"
! grep -q '"status":500\|status=500' target/fuzz-serve.log
