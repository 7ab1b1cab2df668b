#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on 127.0.0.1:5432 and 127.0.0.1:6379.
# Running ones are reused as they are. Missing ones are installed from Debian's packages and
# started; a PostgreSQL cluster created here is set to trust local TCP connections (a
# development machine), matching the default database.url of config.toml. (The test-only
# programs are scripts/tools.sh's, which installs a server's binaries without a cluster:
# one is created here when PostgreSQL is installed but has none.)
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do
    if port_open "$1"; then return 0; fi
    sleep 0.5
  done
  echo "services: nothing answers on 127.0.0.1:$1 ($2)" >&2
  return 1
}

missing=()
if ! port_open 5432 && ! command -v pg_ctlcluster >/dev/null 2>&1; then missing+=(postgresql); fi
if ! port_open 6379 && ! command -v redis-server >/dev/null 2>&1; then missing+=(redis-server); fi
new_cluster=false
if [ "${#missing[@]}" -gt 0 ]; then
  echo "services: installing ${missing[*]} from Debian's packages"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  [[ " ${missing[*]} " == *" postgresql "* ]] && new_cluster=true
fi

if ! port_open 5432; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    # Binaries without a cluster (as scripts/tools.sh installs them): the newest version's.
    version=$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1 | cut -d/ -f5)
    if [ -z "$version" ]; then
      echo "services: pg_ctlcluster is here but no PostgreSQL server (apt-get install postgresql)" >&2
      exit 1
    fi
    echo "services: creating PostgreSQL $version cluster main on port 5432"
    $SUDO pg_createcluster --port 5432 "$version" main >/dev/null
    new_cluster=true
  fi
  if $new_cluster; then
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  echo "services: starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
wait_port 5432 PostgreSQL

if ! port_open 6379; then
  echo "services: starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/phonebill.log
fi
wait_port 6379 Redis
echo "services: PostgreSQL and Redis are up"
