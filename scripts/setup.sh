#!/usr/bin/env bash
# Sets up a fresh checkout, idempotently; sourced by scripts/main.sh and scripts/test.sh.
#   .venv/       the project's environment (torch, lightning, dagster, mlflow, ...), exactly the
#                versions of requirements/lock.txt, then the project itself without dependencies.
#   .venv-dvc/   DVC alone, exactly requirements/dvc-lock.txt: its hydra-core pins antlr4 4.9
#                while Dagster's asset-selection parser needs 4.13 (dagster issue 27487), so they
#                cannot share one env. `dvc` is linked into .venv/bin so the project drives it as
#                a command.
#   Both locks are rewritten only by scripts/update_lock.sh.
#   .dagster_home/  DAGSTER_HOME, with deploy/dagster.yaml; run history lives here.
#   .dvc-remote/    the local DVC remote named in .dvc/config.
# Environment knobs: RECAP_PYTHON (interpreter, default python3), RECAP_TORCH_SPEC
# (default the lock's torch==2.13.0: a CPU build on this machine's wheel cache, the CUDA build
# from PyPI elsewhere; another spec replaces the lock's torch), RECAP_DVC_SPEC (default none:
# the lock; a spec such as 'dvc==3.*' installs DVC unpinned instead).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${RECAP_PYTHON:-python3}"
LOCK=requirements/lock.txt
DVC_LOCK=requirements/dvc-lock.txt
LOCK_TORCH="$(grep -m1 -E '^torch==' "$LOCK" || true)"
[ -n "$LOCK_TORCH" ] || { echo "[setup] $LOCK pins no torch" >&2; exit 1; }
TORCH_SPEC="${RECAP_TORCH_SPEC:-$LOCK_TORCH}"
DVC_SPEC="${RECAP_DVC_SPEC:-}"

# pip's output goes to a log, shown only when pip fails.
LOG="$ROOT/.venv-setup.log"
pip_install() {
  local venv="$1"; shift
  if ! "$venv/bin/python" -m pip install --progress-bar off "$@" >>"$LOG" 2>&1; then
    echo "[setup] pip install $* failed; the end of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}

# Stamps of what was installed: reinstall when pyproject.toml, this script, a lock or a spec
# changes.
# pip itself, which the locks do not hold (they hold what pip installs); raised here, deliberately.
PIP_SPEC="pip==26.3"

stamp() { { cat pyproject.toml scripts/setup.sh "$LOCK"; echo "$TORCH_SPEC"; } | sha256sum | cut -c1-16; }
dvc_stamp() { { cat "$DVC_LOCK"; echo "$DVC_SPEC $PIP_SPEC"; } | sha256sum | cut -c1-16; }

if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.recap-stamp 2>/dev/null)" != "$(stamp)" ]; then
  echo "[setup] installing .venv from $LOCK (torch: $TORCH_SPEC)" >&2
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  pip_install .venv "$PIP_SPEC"
  # The lock less its torch line, which TORCH_SPEC stands for. torch goes first (pip takes this
  # machine's CPU wheel for torch==2.13.0), its own dependencies held to the lock's versions.
  grep -vE '^torch==' "$LOCK" > .venv/.recap-lock.txt
  pip_install .venv "$TORCH_SPEC" -c .venv/.recap-lock.txt
  pip_install .venv -r .venv/.recap-lock.txt
  # The project itself, built by the lock's setuptools rather than the newest one pip would fetch.
  pip_install .venv --no-deps --no-build-isolation -e .
  stamp > .venv/.recap-stamp
fi

if [ ! -x .venv-dvc/bin/dvc ] || [ "$(cat .venv-dvc/.recap-stamp 2>/dev/null)" != "$(dvc_stamp)" ]; then
  echo "[setup] installing .venv-dvc from ${DVC_SPEC:-$DVC_LOCK}" >&2
  [ -x .venv-dvc/bin/python ] || "$PY" -m venv .venv-dvc
  pip_install .venv-dvc "$PIP_SPEC"
  if [ -n "$DVC_SPEC" ]; then pip_install .venv-dvc "$DVC_SPEC"; else pip_install .venv-dvc -r "$DVC_LOCK"; fi
  dvc_stamp > .venv-dvc/.recap-stamp
fi
ln -sf "$ROOT/.venv-dvc/bin/dvc" .venv/bin/dvc

mkdir -p .dagster_home .dvc-remote mlflow
cp deploy/dagster.yaml .dagster_home/dagster.yaml

# Headless Chromium and its driver, the distribution's packages, for tests/browser (the UIs in
# a real browser). Nothing to do when both are on PATH; otherwise apt-get installs them when
# this runs as root (or with passwordless sudo). Where that cannot be done the setup goes on,
# says why, and leaves the reason in .venv/.chromium-missing for the test's skip message.
CHROMIUM_MISSING=.venv/.chromium-missing
chromium_install() {
  local sudo=()
  command -v apt-get >/dev/null || { echo "no apt-get on this system (not Debian or Ubuntu)"; return 1; }
  if [ "$(id -u)" -ne 0 ]; then
    sudo -n true 2>/dev/null || { echo "not root and no passwordless sudo to run apt-get"; return 1; }
    sudo=(sudo -n)
  fi
  echo "[setup] installing chromium and chromium-driver with apt-get" >&2
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120)
  local install=("${apt[@]}" install -y --no-install-recommends chromium chromium-driver)
  # Stale package lists are the common failure: refresh them once and retry.
  if ! "${install[@]}" >>"$LOG" 2>&1 && ! { "${apt[@]}" update >>"$LOG" 2>&1 && "${install[@]}" >>"$LOG" 2>&1; }; then
    echo "apt-get install chromium chromium-driver failed: $(grep -E '^E:' "$LOG" | tail -n 1)"
    return 1
  fi
  command -v chromium >/dev/null && command -v chromedriver >/dev/null ||
    { echo "apt-get installed chromium but chromium or chromedriver is not on PATH"; return 1; }
}
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  rm -f "$CHROMIUM_MISSING"
elif reason="$(chromium_install)"; then
  rm -f "$CHROMIUM_MISSING"
else
  echo "[setup] Chromium not installed, so tests/browser will skip: $reason" >&2
  echo "$reason" > "$CHROMIUM_MISSING"
fi
