#!/usr/bin/env bash
# The main job: sets up when needed, then materializes every asset through Dagster on the
# embedded shapes world. Usage: bash scripts/main.sh [profile]   (default: params.yaml's)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
source "$HERE/env.sh"
cd "$RECAP_ROOT"
if [ $# -ge 1 ]; then
  exec recap materialize --all --profile "$1"
fi
exec recap materialize --all
