#!/usr/bin/env bash
# The test suite: sets up when needed, checks format, lint and types (ruff and pyright, both
# configured in pyproject.toml), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
source "$HERE/env.sh"
cd "$RECAP_ROOT"
echo "[test] ruff format --check; ruff check; pyright" >&2
ruff format --check .
ruff check .
pyright
exec python -m pytest "$@"
