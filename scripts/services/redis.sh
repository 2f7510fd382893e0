#!/usr/bin/env bash
# Redis (Debian's redis-server, installed when missing) on 127.0.0.1, started by us, not systemd.
#
#   redis.sh start | stop | health | status | env
#
# No persistence (--save '' --appendonly no) and noeviction: BullMQ refuses any other policy, and
# a test that fills memory should fail loudly rather than lose keys.
# Environment: REDIS_PORT (6379), REDIS_MAXMEMORY (256mb), REDIS_START_TIMEOUT (30 s).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REDIS_PORT="${REDIS_PORT:-6379}"
REDIS_DIR="$SERVICES_DIR/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
REDIS_MAXMEMORY="${REDIS_MAXMEMORY:-256mb}"
REDIS_START_TIMEOUT="${REDIS_START_TIMEOUT:-30}"

redis_pid() {
  local pid
  pid="$(svc_read_pid "$REDIS_PIDFILE")"
  if svc_pid_alive "$pid" && [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == *redis* ]]; then
    echo "$pid"
  fi
}

redis_health() {
  command -v redis-cli >/dev/null 2>&1 || return 1
  [[ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

redis_start() {
  local t0 pid
  t0=$(svc_now_ms)
  svc_lock redis
  pid="$(redis_pid)"
  # redis-server retitles itself "redis-server 127.0.0.1:PORT".
  [[ -n "$pid" ]] && svc_check_ports redis "$REDIS_DIR" "$(tr '\0' ' ' <"/proc/$pid/cmdline" | sed -n 's/.*:\([0-9][0-9]*\).*/\1/p')" "$REDIS_PORT"
  if [[ -n "$pid" ]] && redis_health; then
    svc_log "redis: already running (pid $pid) on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  if [[ -z "$pid" ]]; then
    svc_port_open "$REDIS_PORT" &&
      svc_die "redis: 127.0.0.1:$REDIS_PORT is taken by a process that is not ours (set REDIS_PORT, or REDIS_URL to use it)"
    svc_apt_install redis-server redis-server
    mkdir -p "$REDIS_DIR"
    rm -f "$REDIS_PIDFILE"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
      --maxmemory "$REDIS_MAXMEMORY" --maxmemory-policy noeviction --save '' --appendonly no \
      --daemonize yes --dir "$REDIS_DIR" --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" 9>&- ||
      svc_die "redis: redis-server failed to start (see $REDIS_LOG)"
  fi
  if ! svc_wait "$REDIS_START_TIMEOUT" "redis on 127.0.0.1:$REDIS_PORT" redis_health; then
    svc_tail_log "$REDIS_LOG"
    svc_die "redis: not healthy after ${REDIS_START_TIMEOUT}s"
  fi
  svc_log "redis: healthy on 127.0.0.1:$REDIS_PORT (pid $(redis_pid)) after $(svc_elapsed "$t0")"
}

redis_stop() {
  local pid
  svc_lock redis
  pid="$(redis_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$REDIS_PIDFILE"
    svc_log "redis: not running"
    return 0
  fi
  svc_stop_pid "$pid" 20 redis
  rm -f "$REDIS_PIDFILE"
  svc_log "redis: stopped pid $pid"
}

redis_status() {
  local pid
  pid="$(redis_pid)"
  if redis_health; then
    echo "redis     healthy   127.0.0.1:$REDIS_PORT pid=${pid:-external}"
  elif [[ -n "$pid" ]]; then
    echo "redis     starting  127.0.0.1:$REDIS_PORT pid=$pid"
    return 1
  else
    echo "redis     stopped"
    return 1
  fi
}

case "${1:-}" in
  start) redis_start ;;
  stop) redis_stop ;;
  health) redis_health ;;
  status) redis_status ;;
  env) echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT" ;;
  *)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
