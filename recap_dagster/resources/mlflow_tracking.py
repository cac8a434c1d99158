"""MLflow tracking for assets, over plain `mlflow.MlflowClient` with explicit run ids.

Not dagster-mlflow (it pins one Dagster release and is a legacy resource) and not the
fluent API (global state: not thread-safe, and the multiprocess executor forks). Every
materialization gets its own run, carrying its lineage (mlflow_lineage.py): the Dagster run
id, job, asset and partition, the git commit, who launched it (`recap.launched_by`: dagster,
or dvc from the DVC stages), and its upstream inputs as dataset inputs with their DVC hashes.
Training assets also log system metrics (`run_for(..., system_metrics=True)`). Each asset's
metadata links back to its run's page (MlflowRun.dagster_metadata).

The default store is sqlite under the project's mlflow/ (database and artifacts there);
MLFLOW_TRACKING_URI, or the resource's `tracking_uri`, overrides it. The experiment is
declared a training experiment, so the MLflow UI opens on its runs (mlflow_store.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

from dagster import AssetExecutionContext, ConfigurableResource
from mlflow import MlflowClient
from mlflow.entities import RunStatus

from recap_dagster.resources.mlflow_lineage import partition_label, run_tags, upstream_lineage
from recap_dagster.resources.mlflow_run import MlflowRun
from recap_dagster.resources.mlflow_store import (
    EXPERIMENT_KIND_TAG,
    TRAINING_KIND,
    declare_training_experiment,
    default_tracking_uri,
    drop_stray_default,
    open_sqlite_store,
    sqlite_artifact_root,
)
from recap_dagster.resources.system_metrics import system_metrics as monitor_system

EXPERIMENT = "recap"
LOCAL_UI_URL = "http://127.0.0.1:5000"  # scripts/mlflow_ui.sh serves the store there

__all__ = ["EXPERIMENT", "MlflowRun", "MlflowTracking", "default_tracking_uri"]


class MlflowTracking(ConfigurableResource):
    """`tracking_uri` empty: $MLFLOW_TRACKING_URI, else sqlite under the project's mlflow/.
    `ui_url` empty: the tracking server when tracking over HTTP, else LOCAL_UI_URL."""

    tracking_uri: str = ""
    experiment_name: str = EXPERIMENT
    ui_url: str = ""
    system_metrics_interval_s: int = 10  # seconds between system metric samples

    def resolved_uri(self) -> str:
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()

    def resolved_ui_url(self) -> str:
        uri = self.resolved_uri()
        return self.ui_url or (uri if uri.startswith(("http://", "https://")) else LOCAL_UI_URL)

    def artifact_location(self) -> str | None:
        """Artifacts beside a sqlite database (mlflow/artifacts); the server's choice otherwise."""
        return sqlite_artifact_root(self.resolved_uri())

    def client(self) -> MlflowClient:
        uri = self.resolved_uri()
        open_sqlite_store(uri)  # a new database gets experiment 0 in mlflow/artifacts, not ./mlruns
        return MlflowClient(tracking_uri=uri, registry_uri=uri)

    def experiment_id(self, client: MlflowClient) -> str:
        """The experiment's id, created (or tagged) as a training experiment."""
        drop_stray_default(client, self.artifact_location())
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            declare_training_experiment(client, experiment)
            return experiment.experiment_id
        try:
            return client.create_experiment(
                self.experiment_name,
                artifact_location=self.artifact_location(),
                tags={EXPERIMENT_KIND_TAG: TRAINING_KIND},
            )
        except Exception:
            # Another process created it between our look-up and our create.
            experiment = client.get_experiment_by_name(self.experiment_name)
            if experiment is None:
                raise
            return experiment.experiment_id

    def lightning_logger(self, run: MlflowRun):
        return run.lightning_logger(self.experiment_name, self.resolved_uri())

    def start_run(self, context: AssetExecutionContext, *, extra_tags: Mapping[str, str] | None = None) -> MlflowRun:
        """A run for this materialization, carrying its lineage, so it can be found from Dagster and back."""
        client = self.client()
        experiment_id = self.experiment_id(client)
        inputs, upstream_tags = upstream_lineage(context)
        tags = {**run_tags(context), **upstream_tags, **(extra_tags or {})}
        asset_key, partition = context.asset_key.to_user_string(), partition_label(context)
        run_name = f"{asset_key}[{partition}]" if partition else asset_key
        run = client.create_run(experiment_id, tags=tags, run_name=run_name)
        if inputs:
            client.log_inputs(run.info.run_id, datasets=inputs)
        return MlflowRun(client, run.info.run_id, experiment_id, self.resolved_ui_url())

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
    def run_for(
        self, context: AssetExecutionContext, *, system_metrics: bool = False, **kwargs: Any
    ) -> Iterator[MlflowRun]:
        """`start_run`, ended FINISHED when the block completes and FAILED when it raises;
        `system_metrics`: the machine's CPU, memory, disk, network (and GPU) logged meanwhile."""
        run = self.start_run(context, **kwargs)
        try:
            with ExitStack() as stack:
                if system_metrics:
                    stack.enter_context(
                        monitor_system(run.client, run.run_id, self.resolved_uri(), self.system_metrics_interval_s)
                    )
                yield run
        except BaseException:
            run.finish(RunStatus.to_string(RunStatus.FAILED))
            raise
        run.finish(RunStatus.to_string(RunStatus.FINISHED))
