#!/usr/bin/env bash
# Where PostgreSQL's time goes while a benchmark runs: samples pg_stat_activity every 20 ms
# for SECONDS and counts the active statements of DATABASE by their first 60 characters and
# what they were waiting on ("cpu" = not waiting). Run it beside a benchmark, e.g.
#   bench/ratio.sh 20 32 & sleep 30; bench/pg_activity.sh 12
#   bench/pg_activity.sh [SECONDS] [DATABASE]      (default: 10 phonebill_bench)
set -euo pipefail
SECS=${1:-10}
DB=${2:-phonebill_bench}
END=$(( $(date +%s) + SECS ))
while [ "$(date +%s)" -lt "$END" ]; do
  psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 60) || ' | ' || coalesce(wait_event_type, 'cpu')
       FROM pg_stat_activity
      WHERE datname = '$DB' AND state = 'active' AND pid <> pg_backend_pid()"
  sleep 0.02
done | sort | uniq -c | sort -rn | head -20
