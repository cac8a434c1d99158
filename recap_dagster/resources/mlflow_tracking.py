"""MLflow tracking for assets, over plain `mlflow.MlflowClient` with explicit run ids.

Not dagster-mlflow (it pins one Dagster release and is a legacy resource) and not the
fluent API (global state: not thread-safe, and the multiprocess executor forks). Every
materialization gets its own run, tagged with the Dagster run id, asset key and partition.

The default store is sqlite under the project's mlflow/ (database and artifacts there);
MLFLOW_TRACKING_URI, or the resource's `tracking_uri`, overrides it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, ConfigurableResource
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus
from PIL import Image

from recap_dagster.project import project_root

EXPERIMENT = "recap"
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value


def default_tracking_uri() -> str:
    return f"sqlite:///{project_root() / 'mlflow' / 'mlflow.db'}"


class MlflowRun:
    """One open MLflow run; every call names its run id explicitly."""

    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(str(k), str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        if items:
            self.client.log_batch(self.run_id, params=items, synchronous=True)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, step) for k, v in metrics.items()]
        if items:
            self.client.log_batch(self.run_id, metrics=items, synchronous=True)

    def log_image(self, image: Image.Image, artifact_file: str) -> None:
        self.client.log_image(self.run_id, image, artifact_file=artifact_file)

    def log_dict(self, data: dict[str, Any], artifact_file: str) -> None:
        self.client.log_dict(self.run_id, data, artifact_file)

    def log_table(self, data: dict[str, list[Any]], artifact_file: str) -> None:
        self.client.log_table(self.run_id, data, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def lightning_logger(self, experiment_name: str, tracking_uri: str):
        """Lightning's MLFlowLogger writing into this very run (not ./mlruns, not a new run)."""
        from lightning.pytorch.loggers import MLFlowLogger

        return MLFlowLogger(experiment_name=experiment_name, tracking_uri=tracking_uri, run_id=self.run_id)

    def register_model(self, model_dir: Path, name: str, alias: str, tags: Mapping[str, str] | None = None) -> str:
        """Logs `model_dir` as this run's `model` artifact, registers it as a new version of
        `name` (with `tags` on the version), and points `alias` at it; returns the version."""
        from mlflow.exceptions import MlflowException

        self.client.log_artifacts(self.run_id, str(model_dir), "model")
        try:
            self.client.create_registered_model(name)
        except MlflowException as error:
            if "already exists" not in str(error).lower():
                raise
        source = f"{self.client.get_run(self.run_id).info.artifact_uri}/model"
        version = self.client.create_model_version(name, source, run_id=self.run_id, tags=dict(tags or {}))
        self.client.set_registered_model_alias(name, alias, version.version)
        return str(version.version)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


class MlflowTracking(ConfigurableResource):
    """`tracking_uri` empty: $MLFLOW_TRACKING_URI, else sqlite under the project's mlflow/."""

    tracking_uri: str = ""
    experiment_name: str = EXPERIMENT

    def resolved_uri(self) -> str:
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()

    def artifact_location(self) -> str | None:
        """Artifacts beside a sqlite database (mlflow/artifacts); the server's choice otherwise."""
        uri = self.resolved_uri()
        if not uri.startswith("sqlite:///"):
            return None
        database = Path(uri.removeprefix("sqlite:///"))
        return (database.parent / "artifacts").resolve().as_uri()

    def client(self) -> MlflowClient:
        uri = self.resolved_uri()
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)

    def experiment_id(self, client: MlflowClient) -> str:
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return client.create_experiment(self.experiment_name, artifact_location=self.artifact_location())
        except Exception:
            # Another process created it between our look-up and our create.
            experiment = client.get_experiment_by_name(self.experiment_name)
            if experiment is None:
                raise
            return experiment.experiment_id

    def lightning_logger(self, run: MlflowRun):
        return run.lightning_logger(self.experiment_name, self.resolved_uri())

    def start_run(self, context: AssetExecutionContext, *, extra_tags: Mapping[str, str] | None = None) -> MlflowRun:
        """A run for this materialization, tagged so it can be found from Dagster and back."""
        client = self.client()
        asset_key = context.asset_key.to_user_string()
        partition = ""
        if context.has_partition_key:
            partition = context.partition_key
        elif context.has_partition_key_range:  # a run over several partitions (a backfill policy)
            keys = context.partition_keys
            partition = keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}"
        tags = {
            "dagster.run_id": context.run.run_id,
            "dagster.asset_key": asset_key,
            "dagster.partition": partition,
            **(extra_tags or {}),
        }
        run_name = f"{asset_key}[{partition}]" if partition else asset_key
        run = client.create_run(self.experiment_id(client), tags=tags, run_name=run_name)
        return MlflowRun(client, run.info.run_id)

    def fail_runs_of(self, dagster_run_id: str) -> int:
        """Ends as FAILED the MLflow runs still RUNNING of Dagster run `dagster_run_id` (whose
        process was killed before it could end them); returns how many."""
        return self._end_running(f"tags.`dagster.run_id` = '{dagster_run_id}'", lambda _: True, RunStatus.FAILED)

    def end_orphans(self, dagster_run_ended: Callable[[str], bool]) -> int:
        """Ends as KILLED the MLflow runs still RUNNING whose Dagster run has ended (a run
        worker killed under the daemon cannot end its MLflow run); returns how many."""
        return self._end_running("", dagster_run_ended, RunStatus.KILLED)

    def _end_running(self, condition: str, dagster_run_ended: Callable[[str], bool], status: int) -> int:
        """Ends with `status` this experiment's RUNNING runs matching `condition` (an MLflow
        filter, "" for all) whose Dagster run id `dagster_run_ended` accepts; returns how many."""
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            return 0
        running = client.search_runs(
            [experiment.experiment_id], " and ".join(filter(None, [condition, "attributes.status = 'RUNNING'"]))
        )
        ended = [r for r in running if dagster_run_ended(r.data.tags.get("dagster.run_id", ""))]
        for run in ended:
            client.set_terminated(run.info.run_id, status=RunStatus.to_string(status))
        return len(ended)

    @contextmanager
    def run_for(self, context: AssetExecutionContext, **kwargs: Any) -> Iterator[MlflowRun]:
        """`start_run`, ended FINISHED when the block completes and FAILED when it raises."""
        run = self.start_run(context, **kwargs)
        try:
            yield run
        except BaseException:
            run.finish(RunStatus.to_string(RunStatus.FAILED))
            raise
        run.finish(RunStatus.to_string(RunStatus.FINISHED))
