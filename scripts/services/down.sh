#!/usr/bin/env bash
# Stops the local services that up.sh started (never one given by the environment), keeping their data.
#
#   scripts/services/down.sh [kafka|redis|postgres ...]    (default: all three)
#
# To delete the data as well: rm -rf .services (after down.sh), or `kafka.sh reset` / `postgres.sh reset`.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

services=("$@")
[[ ${#services[@]} -gt 0 ]] || services=(kafka redis postgres)
status=0
for s in "${services[@]}"; do
  case "$s" in
    kafka | redis | postgres) bash "$SERVICES_SCRIPTS/$s.sh" stop || status=1 ;;
    *) svc_die "unknown service '$s' (kafka, redis, postgres)" ;;
  esac
  if [[ -f "$SERVICES_DIR/env" ]]; then
    case "$s" in kafka) var=KAFKA_BROKERS ;; redis) var=REDIS_URL ;; postgres) var=DATABASE_URL ;; esac
    grep -v "^$var=" "$SERVICES_DIR/env" >"$SERVICES_DIR/env.$$" || true
    mv -f "$SERVICES_DIR/env.$$" "$SERVICES_DIR/env"
    [[ -s "$SERVICES_DIR/env" ]] || rm -f "$SERVICES_DIR/env"
  fi
done
# Private brokers left behind by a test that died before close() (test/helpers/services.ts).
if [[ $# -eq 0 || " $* " == *" kafka "* ]]; then
  for d in "$SERVICES_DIR"/private-kafka-*; do
    [[ -d "$d" ]] || continue
    SERVICES_DIR="$d" bash "$SERVICES_SCRIPTS/kafka.sh" stop || status=1
    rm -rf "$d"
  done
fi
exit "$status"
