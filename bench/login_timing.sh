#!/usr/bin/env bash
# Whether login timing tells which user ids exist: a wrong password on a known account
# against an unknown id, alternated, against the release binary (bench/login_timing.py).
#   bench/login_timing.sh [PAIRS]
# Each pair uses a fresh load user (at most 4 wrong passwords each: no lockout). Its own
# database phonebill_bench_timing and Redis prefix, removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-400}
PORT=18082
scripts/services.sh >/dev/null
cargo build --release --locked --bin phonebill 2>/dev/null
export PHONEBILL__DATABASE__URL=postgres://postgres@127.0.0.1:5432/phonebill_bench_timing
export PHONEBILL__REDIS__KEY_PREFIX="phonebill-bench-timing:"
export PHONEBILL__SERVER__PORT=$PORT
export PHONEBILL__RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE=0
export PHONEBILL__LOG__LEVEL=warn
export PHONEBILL__ACTORS__HISTORY__SPOOL_DIR=$(mktemp -d)
target/release/phonebill seed-demo --load-users "$PAIRS" >/dev/null
target/release/phonebill serve & PID=$!
cleanup() {
  kill $PID 2>/dev/null; wait $PID 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS phonebill_bench_timing WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli --scan --pattern 'phonebill-bench-timing:*' | xargs -r redis-cli del >/dev/null 2>&1 || true
  rm -rf "$PHONEBILL__ACTORS__HISTORY__SPOOL_DIR"
}
trap cleanup EXIT
for _ in $(seq 1 50); do curl -sf localhost:$PORT/health/ready >/dev/null && break; sleep 0.2; done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
python3 bench/login_timing.py "$PORT" "$PAIRS"
