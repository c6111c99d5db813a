#!/usr/bin/env bash
# The project's private PostgreSQL cluster: the default database for running and testing.
#
#   Tools/dev/postgres.sh start     create (first time) and start it; reuse it when it runs
#   Tools/dev/postgres.sh stop      stop it
#   Tools/dev/postgres.sh restart   restart it (the tests use this to prove reconnection)
#   Tools/dev/postgres.sh crash     kill it immediately (-m immediate) and start it: crash recovery
#   Tools/dev/postgres.sh status    say whether it runs
#   Tools/dev/postgres.sh env       print DATABASE_URL and friends for `eval`
#   Tools/dev/postgres.sh psql ...  open psql on the service database as its superuser
#   Tools/dev/postgres.sh destroy   stop it and delete its data
#   Tools/dev/postgres.sh standby start|stop|status
#                                   a streaming standby of it (pg_basebackup, hot
#                                   standby on the next port, same socket folder)
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
# OS user. Its data and socket live under /var/tmp (OUTLINE_PG_HOME overrides),
# which that user can always reach, wherever this clone sits. One cluster per
# clone: the folder name carries a hash of the clone's path.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
key=$(printf '%s' "$root" | sha1sum | cut -c1-10)
home=${OUTLINE_PG_HOME:-/var/tmp/outlinestream-pg-$key}
data=$home/data
socket=$home/socket
port=${OUTLINE_PG_PORT:-5432}
database=${OUTLINE_PG_DATABASE:-outlinestream}
role=outlinestream
# The test suite runs dozens of tests at once, each with a database and a pool
# of its own (and a server's LISTEN connection): 400 ran out on a loaded run.
max_connections=1000
standby_data=$home/standby
standby_port=${OUTLINE_PG_STANDBY_PORT:-$((port + 1))}

find_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "PostgreSQL server not found: installing it with apt-get" >&2
      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
      dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    else
      echo "PostgreSQL server not found: run 'apt-get install postgresql' as root" >&2
      exit 1
    fi
  fi
  echo "$dir"
}

# Runs a command as the cluster's owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

prepare_home() {
  mkdir -p "$home" "$socket"
  chmod 755 "$home"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "the 'postgres' OS user is missing: install the postgresql package" >&2; exit 1; }
    chown postgres: "$home" "$socket"
  fi
}

running() {
  local bin=$1
  [ -f "$data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

superuser_psql() {
  local bin=$1; shift
  as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$socket" -p "$port" -U postgres "$@"
}

start() {
  local bin
  bin=$(find_bin)
  prepare_home
  if [ ! -f "$data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$home/initdb.log" 2>&1 \
      || { cat "$home/initdb.log" >&2; exit 1; }
    cat >>"$data/postgresql.conf" <<CONF
# OutlineStream's private cluster: local socket only, durable commits.
listen_addresses = ''
unix_socket_directories = '$socket'
port = $port
max_connections = $max_connections
shared_buffers = 512MB
fsync = on
synchronous_commit = on
wal_buffers = 16MB
max_wal_size = 4GB
checkpoint_timeout = 15min
logging_collector = off
# Statement counts per database (outline-load --scenario topology reads them).
shared_preload_libraries = 'pg_stat_statements'
CONF
  fi
  if ! running "$bin"; then
    as_owner "$bin/pg_ctl" -D "$data" -l "$home/postgres.log" -w -t 60 start >/dev/null \
      || { tail -n 30 "$home/postgres.log" >&2; exit 1; }
  fi
  # A cluster made by an older copy of this script keeps its older settings: raise
  # max_connections where it is lower (ALTER SYSTEM, then a restart, once).
  # The same for pg_stat_statements, which loads only at start.
  local restart=false
  if [ "$(superuser_psql "$bin" -d postgres -At -c 'SHOW max_connections')" -lt "$max_connections" ]; then
    superuser_psql "$bin" -d postgres -c "ALTER SYSTEM SET max_connections = $max_connections"
    restart=true
  fi
  case "$(superuser_psql "$bin" -d postgres -At -c 'SHOW shared_preload_libraries')" in
    *pg_stat_statements*) ;;
    *) superuser_psql "$bin" -d postgres -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"; restart=true ;;
  esac
  if $restart; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 restart -l "$home/postgres.log" >/dev/null
  fi
  superuser_psql "$bin" -d postgres <<SQL
SELECT 'CREATE ROLE $role LOGIN CREATEDB' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') \gexec
SELECT 'CREATE DATABASE $database OWNER $role' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$database') \gexec
GRANT pg_read_all_stats TO $role;
SQL
  superuser_psql "$bin" -d "$database" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
}

stop() {
  local bin
  bin=$(find_bin)
  if running "$bin"; then as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
}

standby_running() {
  local bin=$1
  [ -f "$standby_data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$standby_data" status >/dev/null 2>&1
}

# A hot standby streaming from the private cluster: physical replication, so
# every database on the primary (the tests' too) appears on it. The primary keeps
# 1 GB of WAL for it (wal_keep_size) rather than a replication slot, so a standby
# left behind or deleted never fills the disk.
standby_start() {
  local bin
  bin=$(find_bin)
  start
  superuser_psql "$bin" -d postgres -c "ALTER SYSTEM SET wal_keep_size = '1GB'" -c "SELECT pg_reload_conf()" >/dev/null
  if [ ! -f "$standby_data/PG_VERSION" ]; then
    rm -rf "$standby_data"
    as_owner "$bin/pg_basebackup" -h "$socket" -p "$port" -U postgres -D "$standby_data" -R -X stream -c fast >"$home/basebackup.log" 2>&1 \
      || { cat "$home/basebackup.log" >&2; exit 1; }
    cat >>"$standby_data/postgresql.conf" <<CONF
# The streaming standby of OutlineStream's private cluster (postgres.sh standby start).
port = $standby_port
hot_standby = on
hot_standby_feedback = on
CONF
  fi
  # A standby made by an older copy of this script: load pg_stat_statements too (a restart, once).
  if ! cat "$standby_data"/postgresql*.conf | grep -q "^shared_preload_libraries.*pg_stat_statements"; then
    echo "shared_preload_libraries = 'pg_stat_statements'" | as_owner tee -a "$standby_data/postgresql.conf" >/dev/null
    if standby_running "$bin"; then as_owner "$bin/pg_ctl" -D "$standby_data" -m fast -w -t 60 stop >/dev/null; fi
  fi
  if ! standby_running "$bin"; then
    as_owner "$bin/pg_ctl" -D "$standby_data" -l "$home/standby.log" -w -t 120 start >/dev/null \
      || { tail -n 30 "$home/standby.log" >&2; exit 1; }
  fi
}

standby_stop() {
  local bin
  bin=$(find_bin)
  if standby_running "$bin"; then as_owner "$bin/pg_ctl" -D "$standby_data" -m fast -w stop >/dev/null; fi
}

print_env() {
  echo "export DATABASE_URL='postgresql:///$database?host=$socket&port=$port&user=$role'"
  echo "export OUTLINE_SUPERUSER_DATABASE_URL='postgresql:///$database?host=$socket&port=$port&user=postgres'"
  echo "export OUTLINE_PG_SCRIPT='$root/Tools/dev/postgres.sh'"
  echo "export OUTLINE_STANDBY_DATABASE_URL='postgresql:///$database?host=$socket&port=$standby_port&user=$role'"
  echo "export OUTLINE_STANDBY_SUPERUSER_DATABASE_URL='postgresql:///$database?host=$socket&port=$standby_port&user=postgres'"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart)
    bin=$(find_bin)
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 restart -l "$home/postgres.log" >/dev/null ;;
  crash)
    # An immediate shutdown (no checkpoint, like a power cut to the server
    # process) and a start: crash recovery replays the WAL. The torture pass uses it.
    bin=$(find_bin)
    as_owner "$bin/pg_ctl" -D "$data" -m immediate -w -t 60 restart -l "$home/postgres.log" >/dev/null ;;
  status)
    bin=$(find_bin)
    if running "$bin"; then echo "running: $data (socket $socket, port $port)"; else echo "stopped: $data"; exit 3; fi ;;
  env) print_env ;;
  psql) shift; bin=$(find_bin); superuser_psql "$bin" -d "$database" "$@" ;;
  destroy) standby_stop; stop; rm -rf "$home" ;;
  standby)
    case "${2:-}" in
      start) standby_start ;;
      stop) standby_stop ;;
      status)
        bin=$(find_bin)
        if standby_running "$bin"; then echo "running: $standby_data (socket $socket, port $standby_port)"; else echo "stopped: $standby_data"; exit 3; fi ;;
      *) echo "usage: postgres.sh standby start|stop|status" >&2; exit 2 ;;
    esac ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
