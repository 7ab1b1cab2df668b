# Shared by the HTTP benchmarks: `source bench/lib.sh` from the repository root.
#   bench_serve PORT [SEED-DEMO ARGS...]  builds the release binary (or takes BENCH_BIN), starts `serve` on PORT
#       against a fresh database phonebill_bench (dropped and seeded first, so no run
#       inherits another's rows) and a fresh Redis prefix, stops it on exit; sets PID.
#   bench_token USER                      prints an access token of USER.
#   bench_need TOOL HOW                   stops with HOW unless TOOL is installed.
#   bench_batched_notifications           MVNO notifications 100 a POST (PER_POST), 1,000 a
#       round (MVNO_BATCH): the built-in receiver takes arrays (see config.toml [mvno]).
#   bench_cpu NAME                        prints the CPU seconds (user + system) used so far
#       by the processes named NAME; bench_cpu_pid PID the same of one process.
#   bench_k6 ARGS...                      runs `k6 ARGS...` (output discarded, a failed
#       threshold is not an error) and sets K6_CPU to the CPU seconds k6 used, all of them.
bench_batched_notifications() {
  export PHONEBILL__MVNO__PER_POST=${PER_POST:-100} PHONEBILL__MVNO__BATCH_SIZE=${MVNO_BATCH:-1000}
}

bench_cpu() { for p in $(pgrep -x "$1"); do cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null; done | awk '{t+=$1+$2} END {print t/100}'; }

bench_cpu_pid() { cut -d' ' -f14,15 "/proc/$1/stat" 2>/dev/null | awk '{print ($1+$2)/100}'; }

bench_k6() {
  # `times` in the subshell reports its children's CPU: k6's, counted to its exit.
  K6_CPU=$( { k6 "$@" >/dev/null 2>&1 || true; times; } | tail -1 |
    awk '{n=0; for (i=1; i<=2; i++) {split($i, a, /[ms]/); n+=60*a[1]+a[2]} print n}')
}

bench_need() { command -v "$1" >/dev/null || { echo "bench: install $1 ($2)" >&2; exit 1; }; }

bench_serve() {
  PORT=$1; shift
  scripts/services.sh >/dev/null
  # BENCH_BIN=path runs that binary instead (an earlier build, for a before/after).
  BIN=${BENCH_BIN:-target/release/phonebill}
  [ -n "${BENCH_BIN:-}" ] || cargo build --release --locked --bin phonebill 2>/dev/null
  export PHONEBILL__DATABASE__URL=postgres://postgres@127.0.0.1:5432/phonebill_bench
  export PHONEBILL__REDIS__KEY_PREFIX="phonebill-bench:$(date +%s):"
  export PHONEBILL__SERVER__PORT=$PORT PHONEBILL__LOG__LEVEL=${PHONEBILL__LOG__LEVEL:-warn}
  export PHONEBILL__ACTORS__HISTORY__SPOOL_DIR=$(mktemp -d)
  psql -q -h 127.0.0.1 -U postgres -d postgres -c 'DROP DATABASE IF EXISTS phonebill_bench WITH (FORCE)'
  "$BIN" seed-demo "$@" >/dev/null
  "$BIN" serve & PID=$!
  trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -sf localhost:$PORT/health/ready >/dev/null && return; sleep 0.1; done
  echo "bench: phonebill did not become ready on port $PORT" >&2; exit 1
}

bench_token() {
  curl -s localhost:$PORT/api/v1/auth/login -H 'content-type: application/json' \
    -d "{\"userId\":\"$1\",\"password\":\"Passw0rd!\"}" | sed 's/.*"access_token":"\([^"]*\)".*/\1/'
}
