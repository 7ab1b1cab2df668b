#!/usr/bin/env bash
# Throughput of the KOS simulator on one core (wrk on the other), bill inquiries over the
# generated range.   bench/kos_mock.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
command -v wrk >/dev/null || { echo "bench: install wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked --bin kos-mock 2>/dev/null
taskset -c 0 target/release/kos-mock --port 19091 --workers 1 >/dev/null & PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
sleep 0.5
MONTH=$(date -u -d '+9 hours' +%Y%m) taskset -c 1 wrk -t1 -c64 -d"${SECS}s" -s bench/kos_bill.lua http://127.0.0.1:19091
