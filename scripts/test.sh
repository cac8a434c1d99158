#!/usr/bin/env bash
# The test suite: sets up when needed, then runs pytest. Extra arguments go to pytest.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
source "$HERE/env.sh"
cd "$RECAP_ROOT"
exec python -m pytest "$@"
