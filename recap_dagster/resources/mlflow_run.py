"""One open MLflow run of one materialization; every call names its run id explicitly (the
fluent API's active run is global state: not thread-safe, and the multiprocess executor forks)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import MetadataValue
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from PIL import Image

from recap_dagster.resources.model_registry import register_pyfunc, update_champion

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value


class MlflowRun:
    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str = "0", ui_url: str = "") -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.ui_url = ui_url  # the MLflow UI's base URL, for links from Dagster

    def url(self) -> str:
        """The run's page in the MLflow UI."""
        return f"{self.ui_url.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"

    def dagster_metadata(self) -> dict[str, Any]:
        """The asset metadata that links a materialization to this run: its id and its page."""
        return {"mlflow_run_id": MetadataValue.text(self.run_id), "mlflow_run": MetadataValue.url(self.url())}

    def child(self, run_name: str, tags: Mapping[str, str] | None = None) -> MlflowRun:
        """A run nested under this one (MLflow's parent tag): the UI lists it beneath, and the
        compare view takes children of one parent side by side."""
        run = self.client.create_run(
            self.experiment_id, tags={"mlflow.parentRunId": self.run_id, **(tags or {})}, run_name=run_name
        )
        return MlflowRun(self.client, run.info.run_id, self.experiment_id, self.ui_url)

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

    def register_model(
        self,
        model_dir: Path,
        name: str,
        alias: str,
        tags: Mapping[str, str] | None = None,
        *,
        champion_metric: str | None = None,
        higher_is_better: bool = True,
        extra_artifacts: Mapping[str, Path] | None = None,
    ) -> str:
        """Logs `model_dir` as this run's pyfunc model `model` (model_registry.py), registers it as
        a new version of `name` with `tags`, points `alias` at it, and, given `champion_metric` (a
        metric this run has logged), moves `champion` to it if it beats the champion; returns the version.
        extra_artifacts: further directories the model bundles by name, e.g. a generator's
        {"upsampler": dir}, which its `upsample` param needs."""
        version = register_pyfunc(self.client, self.run_id, model_dir, name, tags, extra_artifacts)
        self.client.set_registered_model_alias(name, alias, version)
        if champion_metric is not None:
            value = self.client.get_run(self.run_id).data.metrics.get(champion_metric, float("nan"))
            update_champion(self.client, name, version, champion_metric, value, higher_is_better=higher_is_better)
        return version

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)
