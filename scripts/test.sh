#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration tests against real
# PostgreSQL and Redis (started or installed first when missing), then a fuzz run of the
# OpenAPI contract (scripts/fuzz.sh). Every other program the suite runs (kill, redis-server,
# PostgreSQL's initdb and pg_ctl, curl, python3-venv...) is installed first when missing,
# wherever the servers are (scripts/tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
scripts/tools.sh
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --check
else
  echo "test: rustfmt not installed; skipping the format check" >&2
fi
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --locked --all-targets -- -D warnings
else
  echo "test: clippy not installed; skipping lints" >&2
fi
cargo test --locked
# The OpenAPI contract fuzzed with schemathesis (installed from PyPI when missing): no 5xx.
scripts/fuzz.sh "${FUZZ_EXAMPLES:-50}"
