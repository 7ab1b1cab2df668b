#!/usr/bin/env bash
# PostgreSQL row writes per answered cache-hit bill inquiry (issue 16), counted the way the
# figure "4.00 rows per inquiry" was taken: the change of n_tup_ins + n_tup_upd + n_tup_del
# over every table in pg_stat_user_tables across a run of cache-hit inquiries (wrk,
# bench/bill_inquiry.lua MODE=hit), once the history writer and the MVNO notifier have
# written and delivered everything the run caused; with the WAL bytes written
# (pg_stat_wal) per inquiry. The MVNO settings are the shipped ones ([mvno] per_post = 1)
# unless PHONEBILL__MVNO__* says otherwise.
#   bench/pg_writes.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-16}
source bench/lib.sh
bench_need wrk "apt-get install wrk"
bench_serve 18092
TOKEN=$(bench_token user01)
Q() { psql -qtA -h 127.0.0.1 -U postgres -d phonebill_bench -c "$1"; }
backlog() { # history records buffered + MVNO notifications pending
  curl -s localhost:$PORT/metrics | awk '/^phonebill_history_writer\{measure="buffered"\}/ {b=$2}
    /^phonebill_mvno_outbox\{measure="pending"\}/ {p=$2} END {print b+p}'
}
drained() { # the backlogs empty, then the statistics settled (backends report them within
  # a second of a transaction, or when idle: two equal readings 2 s apart)
  for _ in $(seq 1 120); do [ "$(backlog)" = 0 ] && break; sleep 0.5; done
  local last now
  last=$(snapshot)
  for _ in $(seq 1 15); do sleep 2; now=$(snapshot); [ "$now" = "$last" ] && break; last=$now; done
  echo "$now"
}
snapshot() {
  Q "SELECT string_agg(relname || ' ' || (n_tup_ins + n_tup_upd + n_tup_del), ',' ORDER BY relname)
       || ';wal ' || (SELECT wal_bytes FROM pg_stat_wal)
       FROM pg_stat_user_tables"
}
# The bill in every tier first, so every inquiry of the run is a cache hit.
curl -s -o /dev/null localhost:$PORT/api/v1/bills/inquiry -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"lineNumber":"01012345001"}'
BEFORE=$(drained)
echo "== cache-hit bill inquiries, $CONNS connections, ${SECS}s =="
HIT=$(TOKEN=$TOKEN MODE=hit wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s bench/bill_inquiry.lua "http://127.0.0.1:$PORT")
echo "$HIT" | grep -E '50%|99%|Requests/sec|Non-2xx'
N=$(echo "$HIT" | awk '/requests in/ {print $1}'); E=$(echo "$HIT" | awk '/Non-2xx/ {print $5}')
OK=$(( N - ${E:-0} ))
AFTER=$(drained)
python3 - "$BEFORE" "$AFTER" "$OK" <<'PY'
import sys
def parse(s):
    tables, wal = s.split(';wal ')
    rows = dict((t.rsplit(' ', 1)[0], int(t.rsplit(' ', 1)[1])) for t in tables.split(',') if t)
    return rows, int(wal)
(b, bw), (a, aw), ok = parse(sys.argv[1]), parse(sys.argv[2]), int(sys.argv[3])
print(f"answered inquiries: {ok}")
total = 0
for t in sorted(a):
    d = a[t] - b.get(t, 0)
    if d:
        total += d
        print(f"  {t}: {d} row writes ({d / ok:.2f} per inquiry)")
print(f"row writes per answered inquiry: {total / ok:.2f} ({total} in all)")
print(f"WAL bytes per answered inquiry: {(aw - bw) / ok:.0f}")
PY
