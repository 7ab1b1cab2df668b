#!/usr/bin/env bash
# Login throughput against the argon2 bound, in one run on this machine.
#   bench/login.sh [SECONDS] [CONNECTIONS]
# Logins rotate over 1,000 load users (one user's logins queue behind each other by design).
# Needs wrk (apt-get install wrk). Uses its own database phonebill_bench and Redis prefix.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
CONNS=${2:-16}
PORT=18080
scripts/services.sh >/dev/null
command -v wrk >/dev/null || { echo "bench: install wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked --bin phonebill --example argon2_rate 2>/dev/null

export PHONEBILL__DATABASE__URL=postgres://postgres@127.0.0.1:5432/phonebill_bench
export PHONEBILL__REDIS__KEY_PREFIX="phonebill-bench:"
export PHONEBILL__SERVER__PORT=$PORT
export PHONEBILL__RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE=0
export PHONEBILL__LOG__LEVEL=warn
export PHONEBILL__ACTORS__HISTORY__SPOOL_DIR=$(mktemp -d)
target/release/phonebill seed-demo --load-users 1000 >/dev/null
target/release/phonebill serve & PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf localhost:$PORT/health/ready >/dev/null && break; sleep 0.2; done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
BOUND_LINE=$(target/release/examples/argon2_rate config.toml)
echo "$BOUND_LINE"
PER_CORE=$(echo "$BOUND_LINE" | sed 's/.*, \([0-9.]*\) verifies\/s.*/\1/')
BOUND=$(echo "$PER_CORE * $(nproc)" | bc -l)
OUT=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s bench/login.lua "http://127.0.0.1:$PORT")
echo "$OUT" | grep -E 'Latency|50%|99%|Requests/sec|Non-2xx'
RPS=$(echo "$OUT" | awk '/Requests\/sec/ {print $2}')
printf 'bound (per-core rate x %s cores): %.1f logins/s\n' "$(nproc)" "$BOUND"
printf 'measured: %.1f logins/s = %.2f of the bound\n' "$RPS" "$(echo "$RPS / $BOUND" | bc -l)"
echo "resident memory of phonebill after the run: $(ps -o rss= -p $PID) KB"
