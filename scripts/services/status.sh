#!/usr/bin/env bash
# Prints one line per local service (healthy / starting / stopped); exits 1 when any is not healthy.
#
#   scripts/services/status.sh [kafka|redis|postgres ...]  (default: all three)
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

services=("$@")
[[ ${#services[@]} -gt 0 ]] || services=(kafka redis postgres)
status=0
for s in "${services[@]}"; do
  case "$s" in
    kafka | redis | postgres) bash "$SERVICES_SCRIPTS/$s.sh" status || status=1 ;;
    *)
      echo "unknown service '$s' (kafka, redis, postgres)" >&2
      exit 2
      ;;
  esac
done
exit "$status"
