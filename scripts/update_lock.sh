#!/usr/bin/env bash
# Updates the locks that scripts/setup.sh installs from, deliberately, then tests what they install:
#   requirements/lock.txt      .venv: pyproject.toml's dependencies and dev extra, with
#                              requirements/torch.in's torch (its CUDA packages left out)
#   requirements/dvc-lock.txt  .venv-dvc: requirements/dvc.in
# Usage:
#   bash scripts/update_lock.sh                          every package to the newest version allowed
#   bash scripts/update_lock.sh --upgrade-package NAME   NAME alone (repeatable); the rest keep their
#                                                        locked versions; a dependency new to
#                                                        pyproject.toml is added at its newest
#   bash scripts/update_lock.sh --no-upgrade             no upgrade: the locks follow pyproject.toml
#                                                        and requirements/*.in, keeping what they can
#   --lock-only                                          rewrite the lock files and stop there
# Otherwise it then removes .venv and .venv-dvc and runs `bash scripts/test.sh`, which sets both
# up again from the new locks and runs the suite. Extra arguments after `--` go to scripts/test.sh.
# The resolver is uv, at the version below, in a throwaway environment of its own; it resolves
# for Python 3.11 on Linux x86-64 from PyPI, whatever machine this runs on.
set -euo pipefail
UV_VERSION=0.13.9
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${RECAP_PYTHON:-python3}"
# The CUDA build's own packages, which torch requires on Linux x86-64 by PyPI's metadata and this
# machine's CPU build does not: resolved once to learn their names, then excluded.
CUDA_ONLY='^(nvidia-[a-z0-9.-]+|cuda-[a-z0-9.-]+|triton)=='

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
upgrade=(--upgrade)
lock_only=0
test_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --upgrade-package|-P)
      [ $# -ge 2 ] || { echo "[update_lock] $1 needs a package name" >&2; exit 2; }
      [ "${upgrade[0]:-}" = --upgrade ] && upgrade=()
      upgrade+=(--upgrade-package "$2"); shift 2 ;;
    --upgrade-package=*)
      [ "${upgrade[0]:-}" = --upgrade ] && upgrade=()
      upgrade+=(--upgrade-package "${1#*=}"); shift ;;
    --no-upgrade) upgrade=(); shift ;;
    --lock-only) lock_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; test_args=("$@"); break ;;
    *) echo "[update_lock] unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

TOOL="$(mktemp -d)"
trap 'rm -rf "$TOOL"' EXIT
echo "[update_lock] installing uv==$UV_VERSION into a throwaway environment" >&2
"$PY" -m venv "$TOOL/venv"
if ! "$TOOL/venv/bin/python" -m pip install --progress-bar off "uv==$UV_VERSION" >"$TOOL/pip.log" 2>&1; then
  cat "$TOOL/pip.log" >&2; exit 1
fi
UV="$TOOL/venv/bin/uv"

# uv reads no configuration file; it takes the output file's current pins as its preferences, so
# that only what the upgrade flags name moves.
compile() {
  "$UV" --no-config pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --custom-compile-command "bash scripts/update_lock.sh" "${upgrade[@]}" "$@"
}

echo "[update_lock] resolving requirements/lock.txt (${upgrade[*]:-no upgrade})" >&2
[ -f requirements/lock.txt ] && cp requirements/lock.txt "$TOOL/with-cuda.txt"
compile pyproject.toml requirements/torch.in --extra dev -o "$TOOL/with-cuda.txt"
grep -oE "$CUDA_ONLY" "$TOOL/with-cuda.txt" | sed 's/==$//' > "$TOOL/cuda-only.txt" || true
excludes=()
[ -s "$TOOL/cuda-only.txt" ] && excludes=(--excludes "$TOOL/cuda-only.txt")
compile pyproject.toml requirements/torch.in --extra dev "${excludes[@]}" -o requirements/lock.txt
if grep -E "$CUDA_ONLY" requirements/lock.txt >&2; then
  echo "[update_lock] CUDA packages left in requirements/lock.txt (above)" >&2; exit 1
fi
torch_pin="$(grep -m1 -E '^torch==' requirements/torch.in)"
grep -qxF "$torch_pin" requirements/lock.txt ||
  { echo "[update_lock] requirements/lock.txt does not pin $torch_pin" >&2; exit 1; }

echo "[update_lock] resolving requirements/dvc-lock.txt" >&2
compile requirements/dvc.in -o requirements/dvc-lock.txt

echo "[update_lock] changed pins:" >&2
git --no-pager diff -U0 -- requirements/lock.txt requirements/dvc-lock.txt |
  grep -E '^[-+][A-Za-z0-9]' >&2 || echo "  none" >&2
[ "$lock_only" = 1 ] && exit 0

echo "[update_lock] recreating .venv and .venv-dvc from the new locks, then the tests" >&2
rm -rf .venv .venv-dvc
bash scripts/test.sh "${test_args[@]}"
