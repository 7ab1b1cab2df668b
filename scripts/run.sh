#!/usr/bin/env bash
# Runs phonebill on http://127.0.0.1:8080 with the demo users, starting what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
cargo build --release --locked --bin phonebill
target/release/phonebill seed-demo
exec target/release/phonebill serve
