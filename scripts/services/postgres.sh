#!/usr/bin/env bash
# PostgreSQL (Debian's package, installed when missing) on 127.0.0.1 with its own data directory,
# started by us (not systemd), with database and user/password syncpilot/syncpilot.
#
#   postgres.sh start | stop | health | status | env | psql [ARGS] | reset
#
# PostgreSQL refuses to run as root, so the server runs as the `postgres` system user and owns
# its data directory. TCP (127.0.0.1) uses scram-sha-256 passwords; the admin steps use the
# unix socket in the state dir with peer authentication.
# Environment: PG_PORT (5432), PG_START_TIMEOUT (60 s).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_PORT="${PG_PORT:-5432}"
PG_DIR="$SERVICES_DIR/postgres"
PG_START_TIMEOUT="${PG_START_TIMEOUT:-60}"
PG_OS_USER=postgres
PG_DB=syncpilot
PG_USER=syncpilot
PG_PASSWORD=syncpilot

pg_bin() { # newest /usr/lib/postgresql/<v>/bin
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$d" && -x "$d/pg_ctl" ]] && echo "$d"
}

pg_install() {
  if [[ -z "$(pg_bin)" ]]; then
    [[ "$(id -u)" == 0 ]] || svc_die "postgres: not installed; run 'sudo apt-get install -y postgresql'"
    svc_log "installing postgresql (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null || svc_die "apt-get install postgresql failed"
  fi
  PG_BIN="$(pg_bin)" || svc_die "postgres: no /usr/lib/postgresql/*/bin/pg_ctl after install"
  id "$PG_OS_USER" >/dev/null 2>&1 || svc_die "postgres: the '$PG_OS_USER' system user is missing"
}

# The server needs to reach its data dir as the postgres user; a repo under a private home directory
# (mode 700) would not let it, so fall back to a per-repo dir under /var/tmp, linked from .services.
pg_resolve_dirs() {
  mkdir -p "$PG_DIR"
  if [[ -L "$PG_DIR/home" ]]; then
    PG_HOME="$(readlink "$PG_DIR/home")"
  elif [[ "$(id -u)" != 0 ]] || runuser -u "$PG_OS_USER" -- test -x "$PG_DIR"; then
    PG_HOME="$PG_DIR"
  else
    PG_HOME="/var/tmp/syncpilot-postgres-$(printf '%s' "$SERVICES_DIR" | cksum | cut -d' ' -f1)"
    mkdir -p "$PG_HOME"
    ln -sfn "$PG_HOME" "$PG_DIR/home"
    svc_log "postgres: $PG_DIR is not reachable by the $PG_OS_USER user; data lives in $PG_HOME"
  fi
  PG_DATA="$PG_HOME/data"
  PG_LOG="$PG_HOME/postgres.log"
  # Unix socket paths are limited to ~107 bytes; a deep checkout gets a short socket dir instead.
  PG_SOCK="$PG_HOME/run"
  if ((${#PG_SOCK} > 80)); then PG_SOCK="/tmp/syncpilot-pg-$(printf '%s' "$SERVICES_DIR" | cksum | cut -d' ' -f1)"; fi
}

as_pg() { # run a command as the postgres OS user (or as ourselves when not root)
  if [[ "$(id -u)" == 0 ]]; then runuser -u "$PG_OS_USER" -- "$@" 9>&-; else "$@" 9>&-; fi
}

pg_admin_sql() { # sql -> runs as the superuser over the unix socket
  as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres -tA -c "$1"
}

pg_health() {
  command -v pg_isready >/dev/null 2>&1 || return 1
  pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 3 || return 1
  [[ "$(PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=3 psql -X -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -tAc 'select 1' 2>/dev/null)" == 1 ]]
}

# The postmaster pid, when the server running from our data dir is alive.
pg_pid() {
  [[ -n "${PG_DATA:-}" && -f "$PG_DATA/postmaster.pid" ]] || return 0
  local pid
  pid="$(head -n 1 "$PG_DATA/postmaster.pid" | tr -dc '0-9')"
  if svc_pid_alive "$pid" && [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == *postgres* ]]; then echo "$pid"; fi
}

pg_initdb() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
  local t0
  t0=$(svc_now_ms)
  rm -rf "$PG_DATA"
  mkdir -p "$PG_DATA"
  if [[ "$(id -u)" == 0 ]]; then chown "$PG_OS_USER:" "$PG_HOME" "$PG_DATA"; fi
  chmod 700 "$PG_DATA"
  if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
    --auth-local=peer --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1; then
    svc_tail_log "$PG_DIR/initdb.log"
    rm -rf "$PG_DATA"
    svc_die "postgres: initdb failed"
  fi
  svc_log "postgres: initdb done in $(svc_elapsed "$t0")"
}

pg_bootstrap_db() { # idempotent: role and database
  pg_admin_sql "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
        CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD';
      END IF;
    END \$\$;" >/dev/null
  if [[ "$(pg_admin_sql "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]]; then
    pg_admin_sql "CREATE DATABASE $PG_DB OWNER $PG_USER" >/dev/null
  fi
}

pg_start() {
  local t0 pid
  t0=$(svc_now_ms)
  svc_lock postgres
  pg_install
  pg_resolve_dirs
  pid="$(pg_pid)"
  # postmaster.pid's 4th line is the port the running server listens on.
  [[ -n "$pid" ]] && svc_check_ports postgres "$PG_HOME" "$(sed -n 4p "$PG_DATA/postmaster.pid")" "$PG_PORT"
  if [[ -n "$pid" ]] && pg_health; then
    svc_log "postgres: already running (pid $pid) on 127.0.0.1:$PG_PORT"
    return 0
  fi
  if [[ -z "$pid" ]]; then
    svc_port_open "$PG_PORT" &&
      svc_die "postgres: 127.0.0.1:$PG_PORT is taken by a process that is not ours (set PG_PORT, or DATABASE_URL to use it)"
    pg_initdb
    mkdir -p "$PG_SOCK"
    if [[ "$(id -u)" == 0 ]]; then chown "$PG_OS_USER:" "$PG_SOCK"; fi
    touch "$PG_LOG"
    if [[ "$(id -u)" == 0 ]]; then chown "$PG_OS_USER:" "$PG_LOG"; fi
    [[ "$PG_LOG" == "$PG_DIR/postgres.log" ]] || ln -sfn "$PG_LOG" "$PG_DIR/postgres.log"
    # Settings on the command line, not in postgresql.conf: a port change needs no re-init.
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$PG_START_TIMEOUT" -s \
      -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_SOCK -c max_connections=200" \
      start >/dev/null; then
      svc_tail_log "$PG_LOG"
      svc_die "postgres: pg_ctl start failed"
    fi
  fi
  pg_bootstrap_db
  if ! svc_wait "$PG_START_TIMEOUT" "postgres on 127.0.0.1:$PG_PORT" pg_health; then
    svc_tail_log "$PG_LOG"
    svc_die "postgres: not healthy after ${PG_START_TIMEOUT}s"
  fi
  svc_log "postgres: healthy on 127.0.0.1:$PG_PORT (pid $(pg_pid)) after $(svc_elapsed "$t0")"
}

pg_stop() {
  if [[ ! -d "$PG_DIR" ]]; then
    svc_log "postgres: not running"
    return 0
  fi
  svc_lock postgres
  pg_resolve_dirs
  local pid
  pid="$(pg_pid)"
  if [[ -z "$pid" ]]; then
    svc_log "postgres: not running"
    return 0
  fi
  PG_BIN="$(pg_bin)"
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 -s stop >/dev/null 2>&1; then
    svc_log "postgres: fast shutdown failed; immediate"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 10 -s stop >/dev/null 2>&1 || svc_stop_pid "$pid" 5 postgres
  fi
  svc_log "postgres: stopped pid $pid"
}

pg_status() {
  pg_resolve_dirs
  local pid
  pid="$(pg_pid)"
  if pg_health; then
    echo "postgres  healthy   127.0.0.1:$PG_PORT pid=${pid:-external}"
  elif [[ -n "$pid" ]]; then
    echo "postgres  starting  127.0.0.1:$PG_PORT pid=$pid"
    return 1
  else
    echo "postgres  stopped"
    return 1
  fi
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  start) pg_start ;;
  stop) pg_stop ;;
  health) pg_health ;;
  status) pg_status ;;
  env) echo "DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB" ;;
  psql) PGPASSWORD="$PG_PASSWORD" exec psql -X -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" "$@" ;;
  reset)
    pg_stop
    exec 9>&-
    pg_resolve_dirs
    rm -rf "$PG_DATA"
    svc_log "postgres: data deleted"
    ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
