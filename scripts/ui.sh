#!/usr/bin/env bash
# The Dagster UI: webserver and daemon (dagster dev), bound to 127.0.0.1, history in
# .dagster_home/. Usage: bash scripts/ui.sh [port]   (default 3000)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
source "$HERE/env.sh"
cd "$RECAP_ROOT"
exec dagster dev -h 127.0.0.1 -p "${1:-3000}"
