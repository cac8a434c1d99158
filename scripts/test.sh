#!/usr/bin/env bash
# The test suite: sets up when needed, checks format, lint, types and layers (ruff, pyright and
# import-linter's lint-imports, all configured in pyproject.toml), then runs pytest in one
# worker per core (pytest-xdist; a test file stays in one worker, so its module fixtures are
# built once). Extra arguments go to
# pytest; RECAP_TEST_WORKERS sets the workers (0: all in this process).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
source "$HERE/env.sh"
cd "$RECAP_ROOT"
echo "[test] ruff format --check; ruff check; pyright; lint-imports" >&2
ruff format --check .
ruff check .
pyright
lint-imports
exec python -m pytest -n "${RECAP_TEST_WORKERS:-auto}" --dist loadfile --no-loadscope-reorder "$@"
