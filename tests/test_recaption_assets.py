"""`recaptioned_shards` materializes on the tiny project: both shards in one run (as its
backfill policy groups them), one sidecar per shard, the blocking key check, metadata per
partition, MLflow throughput, and a rerun that skips current sidecars."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from mlflow import MlflowClient

from components.recaption.sidecar import compare_sidecar_keys, read_sidecar
from recap_dagster.defs.recaption import POOL, SHARDS_PER_RUN, SIDECAR_KEYS_MATCH_SHARD
from recap_dagster.cli import run_groups
from recap_dagster.definitions import RESOURCES, recaptioned_shards, web_shards
from tests.recaption.conftest import make_captioner

RANGE = {ASSET_PARTITION_RANGE_START_TAG: "00000", ASSET_PARTITION_RANGE_END_TAG: "00001"}
CONFIG = {"ops": {"recaptioned_shards": {"config": {"batch_size": 8, "progress": False}}}}


def test_definition_declares_pool_backfill_policy_and_blocking_check() -> None:
    assert recaptioned_shards.backfill_policy.max_partitions_per_run == SHARDS_PER_RUN
    assert recaptioned_shards.op.pool == POOL
    [spec] = recaptioned_shards.check_specs
    assert spec.name == SIDECAR_KEYS_MATCH_SHARD and spec.blocking
    assert run_groups(recaptioned_shards, None) == [["00000", "00001"]]
    assert run_groups(web_shards, None) == [["00000"], ["00001"]]
    assert run_groups(recaptioned_shards, ["00001"]) == [["00001"]]


def test_recaptioned_shards_materialize_in_one_run_then_skip(tiny_root: Path) -> None:
    if not (tiny_root / "models" / "captioner").is_dir():  # made by the captioner asset test when it ran first
        make_captioner(tiny_root / "models" / "captioner")
    with DagsterInstance.ephemeral() as instance:
        for partition in ("00000", "00001"):
            if not (tiny_root / "data" / "web_shards" / f"{partition}.tar").is_file():
                assert materialize([web_shards], resources=RESOURCES, instance=instance, partition_key=partition).success
        first = materialize([recaptioned_shards], resources=RESOURCES, instance=instance, tags=RANGE,
                            run_config=CONFIG)
        assert first.success
        second = materialize([recaptioned_shards], resources=RESOURCES, instance=instance, tags=RANGE,
                             run_config=CONFIG)
        assert second.success

    events = {e.partition: e for e in first.asset_materializations_for_node("recaptioned_shards")}
    assert set(events) == {"00000", "00001"}
    for partition, event in events.items():
        metadata = {k: v.value for k, v in event.metadata.items()}
        assert metadata["rows"] == 24 and metadata["ok"] == 24 and metadata["error"] == 0
        assert metadata["images_per_second"] > 0 and metadata["skipped_as_current"] is False
        assert metadata["sample_captions"].count("\n") == 2 + 5 - 1
        sidecar = tiny_root / "data" / "recaptioned" / f"{partition}.parquet"
        assert metadata["sidecar"] == str(sidecar)
        assert compare_sidecar_keys(sidecar, tiny_root / "data" / "web_shards" / f"{partition}.tar").ok
        assert read_sidecar(sidecar)["captioner_version"].str.startswith("sha256:").all()
    [check] = first.get_asset_check_evaluations()
    assert check.check_name == SIDECAR_KEYS_MATCH_SHARD and check.passed
    for event in second.asset_materializations_for_node("recaptioned_shards"):
        assert event.metadata["skipped_as_current"].value is True

    client = MlflowClient(RESOURCES["mlflow"].resolved_uri())
    runs = client.search_runs([client.get_experiment_by_name("recap").experiment_id],
                              "tags.`dagster.asset_key` = 'recaptioned_shards'")
    assert runs, "no MLflow run for recaptioned_shards"
    work_run = min(runs, key=lambda r: r.info.start_time)  # the first materialization did the work
    assert work_run.data.tags["dagster.partition"] == "00000...00001"
    assert work_run.data.metrics["run/images_per_second"] > 0 and "tokens_per_second" in work_run.data.metrics
    assert work_run.data.params["recaption.top_p"] == "0.9"
