# Sourced: the environment every project command runs in.
RECAP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export RECAP_ROOT
export DAGSTER_HOME="$RECAP_ROOT/.dagster_home"
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export VIRTUAL_ENV="$RECAP_ROOT/.venv"  # as `activate` sets it: `dg` checks it is the project's
export PATH="$RECAP_ROOT/.venv/bin:$PATH"
