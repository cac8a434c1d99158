#!/usr/bin/env bash
# The Dagster UI: webserver and daemon (`dg dev`, which supersedes `dagster dev`), bound to
# 127.0.0.1, history in .dagster_home/, the concurrency pools' limits from deploy/pools.yaml.
# Usage: bash scripts/ui.sh [port]   (default 3000)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
source "$HERE/env.sh"
cd "$RECAP_ROOT"
python -m recap_dagster.pools
exec dg dev --host 127.0.0.1 --port "${1:-3000}"
