#!/usr/bin/env bash
# Installs, from Debian's packages and only when missing, every program the test suite runs
# besides cargo, whether or not the PostgreSQL and Redis it talks to are local
# (scripts/services.sh sees to those; this script only installs programs):
#   program                                       run by                          package
#   kill                                          the SIGTERM test                procps
#   redis-server                                  tests that own a Redis          redis-server
#   initdb, pg_ctl, postgres (/usr/lib/postgresql/*/bin) and the postgres user
#                                                 tests that own a PostgreSQL     postgresql
#   psql, redis-cli                               by hand on what a test left     postgresql-client, redis-tools
#   curl                                          scripts/fuzz.sh                 curl
#   python3 with venv and ensurepip               scripts/fuzz.sh (schemathesis)  python3, python3-venv
# (runuser, id and chown, which the tests also run, are in util-linux and coreutils, which
# every Debian has.) A server installed here is neither started nor given a cluster, so a
# PostgreSQL or Redis that already answers on 5432/6379 is left as it is, and nothing else
# takes those ports.
set -euo pipefail

# A program on PATH: `type -P`, since `command -v kill` finds bash's builtin.
have() { type -P "$1" >/dev/null; }
pg_server() {
  local bin
  for bin in /usr/lib/postgresql/*/bin; do
    [ -x "$bin/pg_ctl" ] && [ -x "$bin/initdb" ] && [ -x "$bin/postgres" ] && return 0
  done
  return 1
}

missing=()
have kill || missing+=(procps)
have redis-server || missing+=(redis-server)
pg_server || missing+=(postgresql)
have psql || missing+=(postgresql-client)
have redis-cli || missing+=(redis-tools)
have curl || missing+=(curl)
have python3 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
[ "${#missing[@]}" -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "tools: installing ${missing[*]} from Debian's packages" >&2
# For the time of the install: no service starts (policy-rc.d answering 101, which
# invoke-rc.d and deb-systemd-invoke obey) and Debian's postgresql creates no main cluster
# (a createcluster.d drop-in); both only when not already there, and removed afterwards.
policy=/usr/sbin/policy-rc.d
nocluster=/etc/postgresql-common/createcluster.d/zz-phonebill-tools.conf
added=()
undo() { if [ "${#added[@]}" -gt 0 ]; then $SUDO rm -f "${added[@]}"; fi; }
trap undo EXIT
if ! [ -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  added+=("$policy")
fi
if ! [ -e "$nocluster" ]; then
  $SUDO mkdir -p "$(dirname "$nocluster")"
  echo 'create_main_cluster = false' | $SUDO tee "$nocluster" >/dev/null
  added+=("$nocluster")
fi
# Without recommends: Debian's would bring an MTA (exim4), cron and sysstat along.
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Nor at the next boot: Debian enables its redis-server unit, which could then take 6379
# before the Redis this machine uses (scripts/services.sh starts one itself when needed).
if [[ " ${missing[*]} " == *" redis-server "* ]] && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --quiet redis-server || true
fi

# Said before it is needed, not in the middle of a test.
pg_server || { echo "tools: no /usr/lib/postgresql/*/bin/pg_ctl after installing" >&2; exit 1; }
for p in kill redis-server psql redis-cli curl python3; do
  have "$p" || { echo "tools: $p is still missing after installing" >&2; exit 1; }
done
python3 -c 'import venv, ensurepip' || { echo "tools: python3 has no venv/ensurepip" >&2; exit 1; }
