#!/usr/bin/env bash
# Makes sure a PostgreSQL server is running for the tests and prints the URL to use.
#
# Installs PostgreSQL from Debian's packages when it is missing, creates a throw-away cluster
# under $PAAS_PG_DIR (default /var/tmp/paas-pg) listening on 127.0.0.1:$PAAS_PG_PORT
# (default 55432, away from a system cluster on 5432), and prints
#   PAAS_TEST_DATABASE_URL=postgres://paas@127.0.0.1:55432/paas_test
# on its last line. Idempotent: a running cluster is reused.
set -euo pipefail

PG_DIR=${PAAS_PG_DIR:-/var/tmp/paas-pg}
PG_PORT=${PAAS_PG_PORT:-55432}
log() { printf '[ensure-postgres] %s\n' "$*" >&2; }

find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

if ! BIN=$(find_bin); then
  log "PostgreSQL is not installed: installing it from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN=$(find_bin)
fi

# The server refuses to run as root: run it as the 'postgres' user (created by the package).
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
  RUN_AS=(runuser -u postgres --)
fi

if [ ! -f "$PG_DIR/PG_VERSION" ]; then
  log "creating a cluster in $PG_DIR"
  mkdir -p "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR"
  "${RUN_AS[@]}" "$BIN/initdb" -D "$PG_DIR" -U postgres --auth=trust -E UTF8 >/dev/null
  cat >> "$PG_DIR/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
max_connections = 400
shared_buffers = 256MB
CONF
fi

if ! "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$PG_DIR" status >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$PG_DIR" -l "$PG_DIR/server.log" -w start >/dev/null
fi

psql_() { "$BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
if [ "$(psql_ -c "select 1 from pg_roles where rolname = 'paas'")" != 1 ]; then
  psql_ -c "create role paas login superuser" >/dev/null
fi
if [ "$(psql_ -c "select 1 from pg_database where datname = 'paas_test'")" != 1 ]; then
  psql_ -c "create database paas_test owner paas" >/dev/null
fi
echo "PAAS_TEST_DATABASE_URL=postgres://paas@127.0.0.1:$PG_PORT/paas_test"
