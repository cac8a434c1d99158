#!/usr/bin/env bash
# The MLflow UI on the project's store (mlflow/mlflow.db, artifacts in mlflow/artifacts).
# Usage: bash scripts/mlflow_ui.sh [port]   (default 5000)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
cd "$RECAP_ROOT"
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false  # its five background job runners serve GenAI features this project does not use
exec mlflow ui --backend-store-uri "sqlite:///$RECAP_ROOT/mlflow/mlflow.db" \
  --default-artifact-root "$RECAP_ROOT/mlflow/artifacts" --host 127.0.0.1 --port "${1:-5000}"
