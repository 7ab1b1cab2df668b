#!/usr/bin/env bash
# Whether login timing tells which user ids exist: a wrong password on a known account
# against an unknown id, alternated, against the release binary (bench/login_timing.py).
#   bench/login_timing.sh [PAIRS]
# Each pair uses a fresh load user (one wrong password each: no lockout).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
PAIRS=${1:-400}
export PHONEBILL__RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE=0
bench_serve 18082 --load-users "$PAIRS"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
python3 bench/login_timing.py "$PORT" "$PAIRS"
