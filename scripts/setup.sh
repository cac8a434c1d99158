#!/usr/bin/env bash
# Sets up a fresh checkout, idempotently; sourced by scripts/main.sh and scripts/test.sh.
#   .venv/       the project's environment (torch, lightning, dagster, mlflow, ...)
#   .venv-dvc/   DVC alone: its hydra-core pins antlr4 4.9 while Dagster's asset-selection
#                parser needs 4.13 (dagster issue 27487), so they cannot share one env.
#                `dvc` is linked into .venv/bin so the project drives it as a command.
#   .dagster_home/  DAGSTER_HOME, with deploy/dagster.yaml; run history lives here.
#   .dvc-remote/    the local DVC remote named in .dvc/config.
# Environment knobs: RECAP_PYTHON (interpreter, default python3), RECAP_TORCH_SPEC
# (default torch==2.13.0: a CPU build on this machine's wheel cache, the CUDA build
# from PyPI elsewhere).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${RECAP_PYTHON:-python3}"
TORCH_SPEC="${RECAP_TORCH_SPEC:-torch==2.13.0}"
DVC_SPEC="${RECAP_DVC_SPEC:-dvc==3.*}"

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

# A stamp of what was installed: reinstall when pyproject.toml changes.
stamp() { cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16; }

if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.recap-stamp 2>/dev/null)" != "$(stamp)" ]; then
  echo "[setup] creating .venv (torch: $TORCH_SPEC)" >&2
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  pip_install .venv --upgrade pip
  pip_install .venv "$TORCH_SPEC"
  pip_install .venv -e ".[dev]"
  stamp > .venv/.recap-stamp
fi

if [ ! -x .venv-dvc/bin/dvc ]; then
  echo "[setup] creating .venv-dvc ($DVC_SPEC)" >&2
  "$PY" -m venv .venv-dvc
  pip_install .venv-dvc --upgrade pip
  pip_install .venv-dvc "$DVC_SPEC"
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
