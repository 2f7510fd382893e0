#!/usr/bin/env bash
# Starts the local services for tests and development, on 127.0.0.1, and waits until each is healthy.
#
#   scripts/services/up.sh [kafka|redis|postgres ...]      (default: all three)
#
# Idempotent: a service that is already healthy is left alone, so a second run is a no-op.
# A service given by the environment (KAFKA_BROKERS, REDIS_URL, DATABASE_URL) and healthy is used
# as is; one that is set but not answering is an error, unless it names our own default address.
# Prints the environment to use (NAME=value lines) on stdout and writes it to .services/env:
#   set -a; . .services/env; set +a
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

services=("$@")
[[ ${#services[@]} -gt 0 ]] || services=(kafka redis postgres)

env_var_of() {
  case "$1" in
    kafka) echo KAFKA_BROKERS ;;
    redis) echo REDIS_URL ;;
    postgres) echo DATABASE_URL ;;
    *) svc_die "unknown service '$1' (kafka, redis, postgres)" ;;
  esac
}

provided_healthy() { # service value
  case "$1" in
    kafka) node "$SERVICES_SCRIPTS/kafka-probe.mjs" "$2" --timeout 3000 >/dev/null 2>&1 ;;
    redis)
      svc_apt_install redis-cli redis-tools
      [[ "$(timeout 5 redis-cli -u "$2" ping 2>/dev/null)" == PONG ]]
      ;;
    postgres)
      svc_apt_install psql postgresql-client
      [[ "$(PGCONNECT_TIMEOUT=3 psql -X "$2" -tAc 'select 1' 2>/dev/null)" == 1 ]]
      ;;
  esac
}

t_all=$(svc_now_ms)
declare -A lines=()
for s in "${services[@]}"; do
  var="$(env_var_of "$s")"
  ours="$(bash "$SERVICES_SCRIPTS/$s.sh" env)"
  given="${!var:-}"
  # A healthy service named by the environment is used as it is, even at our default address
  # (e.g. one started by another checkout on this machine).
  if [[ -n "$given" ]] && provided_healthy "$s" "$given"; then
    svc_log "$s: using $var from the environment ($given)"
    lines[$s]="$var=$given"
    continue
  fi
  if [[ -n "$given" && "$var=$given" != "$ours" ]]; then
    svc_die "$s: $var=$given is set but not healthy (unset it to start a local $s)"
  fi
  t0=$(svc_now_ms)
  bash "$SERVICES_SCRIPTS/$s.sh" start
  lines[$s]="$ours"
  svc_log "$s: ready in $(svc_elapsed "$t0")"
done

# Keep the lines of services this run did not touch, so `up.sh redis` does not drop KAFKA_BROKERS.
svc_lock env
for s in kafka redis postgres; do
  if [[ -z "${lines[$s]:-}" && -f "$SERVICES_DIR/env" ]]; then
    old="$(grep "^$(env_var_of "$s")=" "$SERVICES_DIR/env" || true)"
    [[ -n "$old" ]] && lines[$s]="$old"
  fi
done
tmp="$SERVICES_DIR/env.$$"
for s in kafka redis postgres; do
  [[ -n "${lines[$s]:-}" ]] && echo "${lines[$s]}" >>"$tmp"
done
mv -f "$tmp" "$SERVICES_DIR/env"
for s in "${services[@]}"; do echo "${lines[$s]}"; done
svc_log "up: ${services[*]} healthy in $(svc_elapsed "$t_all"); env in $SERVICES_DIR/env"
