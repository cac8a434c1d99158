"""The MLflow store the assets track into: where it is, and the experiment that opens on runs.

Two MLflow 3 defaults this corrects:
- the first client to open a new sqlite database creates experiment 0, `Default`, with its
  artifacts under ./mlruns of whatever folder the process ran in; `open_sqlite_store` creates
  the database itself with the store's own artifact root, so `Default` lies beside the others;
  a `Default` left empty at another location by an older run is deleted (it holds no runs);
- an experiment without the `mlflow.experimentKind` tag may open in the GenAI view (Traces,
  "Evaluation runs"); `TRAINING_KIND` declares custom model development, whose view lists runs.
"""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Experiment, ViewType
from mlflow.exceptions import MlflowException

from recap_dagster.project import project_root

# The experiment tag the MLflow 3 UI reads to pick an experiment's view (its values are the
# UI's ExperimentKind: genai_development, custom_model_development, ...).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"
DEFAULT_EXPERIMENT_ID = "0"


def default_tracking_uri() -> str:
    return f"sqlite:///{project_root() / 'mlflow' / 'mlflow.db'}"


def sqlite_artifact_root(uri: str) -> str | None:
    """Artifacts beside a sqlite database (mlflow/artifacts) as a file URI; None for another store."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database.parent / "artifacts").resolve().as_uri()


def as_uri(location: str) -> str:
    """An artifact location as a URI: a plain path (what `mlflow ui --default-artifact-root DIR`
    records) becomes its file URI."""
    return location if "://" in location else Path(location).resolve().as_uri()


def open_sqlite_store(uri: str) -> None:
    """Creates the sqlite database at `uri` (its folder too) if it does not exist yet, with
    experiment 0 under the store's artifact root rather than ./mlruns. Any other URI: nothing."""
    artifact_root = sqlite_artifact_root(uri)
    if artifact_root is None:
        return
    database = Path(uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    if database.is_file():
        return
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    try:
        store = SqlAlchemyStore(uri, artifact_root)  # makes the tables and experiment 0 there
    except Exception:
        if not database.is_file():
            raise
        return  # another process made it meanwhile
    store.engine.dispose()


def declare_training_experiment(client: MlflowClient, experiment: Experiment) -> None:
    """Tags `experiment` a training experiment unless it already declares a kind (a user's choice stays)."""
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_KIND)


def drop_stray_default(client: MlflowClient, artifact_root: str | None) -> bool:
    """Deletes experiment 0 when it is active, holds no runs and keeps its artifacts outside
    `artifact_root` (the ./mlruns of an older first client); True when it did."""
    if artifact_root is None:
        return False
    try:
        default = client.get_experiment(DEFAULT_EXPERIMENT_ID)
        if default.lifecycle_stage != "active" or as_uri(default.artifact_location).startswith(artifact_root):
            return False
        if client.search_runs([DEFAULT_EXPERIMENT_ID], run_view_type=ViewType.ALL, max_results=1):
            return False
        client.delete_experiment(DEFAULT_EXPERIMENT_ID)
    except MlflowException:  # no experiment 0, or another process deleted it first
        return False
    return True
