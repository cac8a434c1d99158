"""Lineage both ways: a materialization's MLflow run carries the Dagster run, job, asset and
partition, the git commit, who launched it, and its upstream assets as dataset inputs with
their DVC hashes; the asset's metadata links to the run's page. And the store: the experiment
declares itself a training experiment, and no `Default` experiment points at ./mlruns.

The assets materialized here are probes defined below (their lineage is the resource's, not
theirs), downstream of the tiny project's real `web_shards` and `curated_captions`, whose own
materializations recorded the DVC hashes the probes' runs must carry."""

import json
import subprocess
from pathlib import Path

import pytest
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    MaterializeResult,
    asset,
    materialize,
)
from mlflow import MlflowClient

from components.io.hashing import dir_md5, file_md5
from recap_dagster.config import WEB_SHARD_PARTITIONS
from recap_dagster.definitions import RESOURCES, curated_captions, web_shards
from recap_dagster.resources import MlflowTracking
from tests.helpers import REPO, materialize_tiny_datasets


@asset(deps=[AssetDep("web_shards", partition_mapping=AllPartitionMapping()), "curated_captions"])
def lineage_probe(context: AssetExecutionContext, mlflow: MlflowTracking) -> MaterializeResult:
    with mlflow.run_for(context, system_metrics=True) as run:
        run.log_metrics({"probe": 1.0})
    return MaterializeResult(metadata=run.dagster_metadata())


@asset(deps=["web_shards"], partitions_def=WEB_SHARD_PARTITIONS)
def lineage_probe_per_shard(context: AssetExecutionContext, mlflow: MlflowTracking) -> MaterializeResult:
    with mlflow.run_for(context) as run:
        pass
    return MaterializeResult(metadata=run.dagster_metadata())


def metadata_of(result, node: str) -> dict:
    [event] = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in event.metadata.items()}


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        materialize_tiny_datasets(ephemeral)
        yield ephemeral


def upstream_metadata(instance: DagsterInstance, key: str, partition: str | None = None) -> dict:
    records = instance.fetch_materializations(
        AssetRecordsFilter(AssetKey(key), asset_partitions=[partition] if partition else None), limit=1
    ).records
    materialization = records[0].asset_materialization
    assert materialization is not None
    return {k: v.value for k, v in materialization.metadata.items()}


def test_a_run_carries_its_lineage_and_the_metadata_links_to_it(
    instance: DagsterInstance, tiny_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECAP_LAUNCHED_BY", raising=False)
    result = materialize(
        [lineage_probe, web_shards, curated_captions],
        selection=[lineage_probe],
        resources=RESOURCES,
        instance=instance,
    )
    assert result.success
    metadata = metadata_of(result, "lineage_probe")
    client = MlflowClient(RESOURCES["mlflow"].resolved_uri())
    run = client.get_run(metadata["mlflow_run_id"])
    experiment_id = run.info.experiment_id
    assert metadata["mlflow_run"] == f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run.info.run_id}"

    tags = run.data.tags
    assert tags["dagster.run_id"] == result.run_id
    assert tags["dagster.job_name"] == instance.get_run_by_id(result.run_id).job_name
    assert tags["mlflow.source.name"] == tags["dagster.job_name"]
    assert (tags["dagster.asset_key"], tags["dagster.partition"]) == ("lineage_probe", "")
    assert tags["recap.launched_by"] == "dagster"
    assert tags["mlflow.source.git.commit"] == git("rev-parse", "HEAD")
    assert tags["recap.git.dirty"] == str(bool(git("status", "--porcelain", "--untracked-files=no"))).lower()

    # The inputs: every web shard (AllPartitionMapping) and the curated set, each digest the
    # DVC hash its latest materialization recorded, and the directory's own hash as DVC computes it.
    storage = RESOURCES["storage"]
    upstream = {
        "web_shards[00000]": upstream_metadata(instance, "web_shards", "00000"),
        "web_shards[00001]": upstream_metadata(instance, "web_shards", "00001"),
        "curated_captions": upstream_metadata(instance, "curated_captions"),
    }
    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert {name: i.dataset.digest for name, i in inputs.items()} == {
        name: m["dvc_dir_md5"] for name, m in upstream.items()
    }
    assert inputs["web_shards[00001]"].dataset.digest == dir_md5(storage.web_shards_dir())  # both shards written
    assert inputs["curated_captions"].dataset.digest == dir_md5(storage.curated_dir())
    shard = inputs["web_shards[00001]"]
    assert json.loads(shard.dataset.source) == {"uri": storage.web_shards_dir().resolve().as_uri()}
    assert json.loads(shard.dataset.profile)["dvc_md5"]["00001.tar"] == file_md5(storage.web_shard_tar("00001"))
    shard_tags = {t.key: t.value for t in shard.tags}
    assert shard_tags["mlflow.data.context"] == "upstream" and shard_tags["dagster.partition"] == "00001"
    assert shard_tags["recap.mlflow_run_id"] == upstream["web_shards[00001]"]["mlflow_run_id"]

    # A training step's machine: sampled at least once however short the run.
    assert 0.0 <= run.data.metrics["system/cpu_utilization_percentage"] <= 100.0
    assert run.data.metrics["system/system_memory_usage_megabytes"] > 0

    experiment = client.get_experiment(experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    artifacts = (tiny_root / "mlflow" / "artifacts").resolve().as_uri()
    assert client.get_experiment("0").artifact_location.startswith(artifacts)  # not ./mlruns


def test_a_partition_reads_its_own_shard_and_dvc_launches_are_tagged(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECAP_LAUNCHED_BY", "dvc")
    result = materialize(
        [lineage_probe_per_shard, web_shards],
        selection=[lineage_probe_per_shard],
        resources=RESOURCES,
        instance=instance,
        partition_key="00001",
    )
    assert result.success
    run = MlflowClient(RESOURCES["mlflow"].resolved_uri()).get_run(
        metadata_of(result, "lineage_probe_per_shard")["mlflow_run_id"]
    )
    assert run.data.tags["recap.launched_by"] == "dvc"
    assert run.data.tags["dagster.partition"] == "00001"
    [only] = run.inputs.dataset_inputs  # the identity mapping: shard 00001 alone
    assert only.dataset.name == "web_shards[00001]"
    assert only.dataset.digest == upstream_metadata(instance, "web_shards", "00001")["dvc_dir_md5"]
    assert not any(k.startswith("system/") for k in run.data.metrics)  # not asked for


def test_an_old_store_is_put_right(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store first opened by a plain client (Default at ./mlruns) with a `recap` experiment
    lacking the kind tag: the empty stray Default is deleted, the experiment is tagged."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    plain = MlflowClient(uri)
    old_id = plain.create_experiment("recap")
    assert plain.get_experiment("0").artifact_location == str(tmp_path / "mlruns" / "0")

    tracking = MlflowTracking(tracking_uri=uri, experiment_name="other")
    client = tracking.client()
    new_id = tracking.experiment_id(client)
    assert client.get_experiment("0").lifecycle_stage == "deleted"
    assert client.get_experiment(new_id).tags["mlflow.experimentKind"] == "custom_model_development"
    assert "mlflow.experimentKind" not in client.get_experiment(old_id).tags
    assert MlflowTracking(tracking_uri=uri).experiment_id(client) == old_id
    assert client.get_experiment(old_id).tags["mlflow.experimentKind"] == "custom_model_development"


def test_a_new_store_keeps_default_beside_its_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    client = tracking.client()
    tracking.experiment_id(client)
    default = client.get_experiment("0")
    assert default.lifecycle_stage == "active"
    assert default.artifact_location == (tmp_path / "store" / "artifacts" / "0").as_uri()
    assert not (tmp_path / "mlruns").exists()
