# shellcheck shell=bash
# Shared helpers for the local service scripts (sourced, not run). Everything lives under
# $SERVICES_DIR (default: <repo>/.services) and listens on 127.0.0.1 only.

SERVICES_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck disable=SC2034 # used by the scripts that source this file
SERVICES_SCRIPTS="$SERVICES_ROOT/scripts/services"
SERVICES_DIR="${SERVICES_DIR:-$SERVICES_ROOT/.services}"
# The lock is held on this fd; every daemon we spawn gets it closed (9>&-), or the daemon would
# keep the lock for its whole life and the next script would wait forever.
SERVICES_LOCK_FD=9

svc_log() { printf '[services] %s\n' "$*" >&2; }
svc_die() {
  printf '[services] ERROR: %s\n' "$*" >&2
  exit 1
}

svc_now_ms() { date +%s%3N; }
svc_elapsed() { # start_ms -> "1.23s"
  local d=$(($(svc_now_ms) - $1))
  printf '%d.%02ds' $((d / 1000)) $((d % 1000 / 10))
}

# Serialises start/stop of one service across processes (parallel test files call up.sh at once).
svc_lock() {
  local name="$1"
  mkdir -p "$SERVICES_DIR"
  command -v flock >/dev/null 2>&1 || svc_die "flock (util-linux) is required"
  eval "exec $SERVICES_LOCK_FD>\"\$SERVICES_DIR/.$name.lock\""
  flock -w "${SERVICES_LOCK_TIMEOUT:-600}" "$SERVICES_LOCK_FD" || svc_die "timed out waiting for the $name lock ($SERVICES_DIR/.$name.lock)"
}

# Alive and not a zombie: a daemon whose parent script has exited is reaped by init, maybe late.
svc_pid_alive() {
  [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
  [[ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" != Z ]]
}

svc_read_pid() { # file -> pid or empty
  [[ -f "$1" ]] && tr -dc '0-9' <"$1" | head -c 12 || true
}

# True when something accepts TCP connections on 127.0.0.1:port.
svc_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# svc_wait SECONDS WHAT CMD... : polls CMD every 0.25 s until it succeeds or SECONDS pass.
svc_wait() {
  local secs="$1" what="$2"
  shift 2
  local until=$(($(svc_now_ms) + secs * 1000))
  until "$@" >/dev/null 2>&1; do
    if (($(svc_now_ms) > until)); then
      svc_log "timed out after ${secs}s waiting for $what"
      return 1
    fi
    sleep 0.25
  done
}

# svc_stop_pid PID SECONDS NAME : SIGTERM, wait up to SECONDS, then SIGKILL.
svc_stop_pid() {
  local pid="$1" secs="$2" name="$3"
  svc_pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  local until=$(($(svc_now_ms) + secs * 1000))
  while svc_pid_alive "$pid"; do
    if (($(svc_now_ms) > until)); then
      svc_log "$name (pid $pid) did not stop within ${secs}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
}

# Installs Debian packages when a command is missing (root only; CI and developers' machines are root).
svc_apt_install() { # cmd package...
  local cmd="$1"
  shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  [[ "$(id -u)" == 0 ]] || svc_die "$cmd is missing: install it with 'sudo apt-get install -y $*'"
  svc_log "installing $* (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "$@" >/dev/null ||
    svc_die "apt-get install $* failed"
}

# Dies when our process for a service is alive but listens on other ports than asked for now:
# one state dir holds one instance (a second one needs its own SERVICES_DIR).
svc_check_ports() { # name dir had wanted
  if [[ -n "$3" && "$3" != "$4" ]]; then
    svc_die "$1: already running from $2 on port(s) $3, not $4; stop it first (or use another SERVICES_DIR)"
  fi
}

svc_tail_log() { # file
  [[ -f "$1" ]] || return 0
  svc_log "last lines of $1:"
  tail -n 25 "$1" | sed 's/^/    /' >&2
}
