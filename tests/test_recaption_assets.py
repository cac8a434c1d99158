"""`recaptioned_shards` materializes on the tiny project: both shards in one run (as its
backfill policy groups them), one sidecar per shard, the blocking key check, metadata per
partition, MLflow throughput, and a rerun that skips current sidecars."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from mlflow import MlflowClient

from components.recaption.sidecar import compare_sidecar_keys, read_sidecar, read_sidecar_info, sidecar_path
from recap_dagster.cli import run_groups
from recap_dagster.definitions import RESOURCES, recaptioned_shards, web_shards
from recap_dagster.defs.recaption import SHARDS_PER_RUN, SIDECAR_KEYS_MATCH_SHARD
from recap_dagster.pools import RECAPTION_POOL
from recap_dagster.resources import MlflowTracking, ProjectStorage
from tests.captioner.saved_captioner import make_captioner
from tests.data.shard_files import write_shard

RANGE = {ASSET_PARTITION_RANGE_START_TAG: "00000", ASSET_PARTITION_RANGE_END_TAG: "00001"}
CONFIG = {"ops": {"recaptioned_shards": {"config": {"overrides": {"batch_size": 8}, "progress": False}}}}
STORAGE = RESOURCES["storage"]


def test_definition_declares_pool_backfill_policy_and_blocking_check() -> None:
    assert recaptioned_shards.backfill_policy.max_partitions_per_run == SHARDS_PER_RUN
    assert recaptioned_shards.op.pool == RECAPTION_POOL
    [spec] = recaptioned_shards.check_specs
    assert spec.name == SIDECAR_KEYS_MATCH_SHARD and spec.blocking
    assert run_groups(recaptioned_shards, None) == [["00000", "00001"]]
    assert run_groups(web_shards, None) == [["00000"], ["00001"]]
    assert run_groups(recaptioned_shards, ["00001"]) == [["00001"]]


def test_recaptioned_shards_materialize_in_one_run_then_skip() -> None:
    if not STORAGE.captioner_dir().is_dir():  # made by the captioner asset test when it ran first
        make_captioner(STORAGE.captioner_dir())
    with DagsterInstance.ephemeral() as instance:
        for partition in ("00000", "00001"):
            if not STORAGE.web_shard_tar(partition).is_file():
                assert materialize(
                    [web_shards], resources=RESOURCES, instance=instance, partition_key=partition
                ).success
        # force: another test (the curation assets') may have left current sidecars of these shards.
        forced = {
            "ops": {"recaptioned_shards": {"config": {**CONFIG["ops"]["recaptioned_shards"]["config"], "force": True}}}
        }
        first = materialize([recaptioned_shards], resources=RESOURCES, instance=instance, tags=RANGE, run_config=forced)
        assert first.success
        second = materialize(
            [recaptioned_shards], resources=RESOURCES, instance=instance, tags=RANGE, run_config=CONFIG
        )
        assert second.success

    events = {e.partition: e for e in first.asset_materializations_for_node("recaptioned_shards")}
    assert set(events) == {"00000", "00001"}
    infos = {}  # each sidecar's own record of its work: generated tokens and seconds
    for partition, event in events.items():
        metadata = {k: v.value for k, v in event.metadata.items()}
        assert metadata["rows"] == 24 and metadata["ok"] == 24 and metadata["error"] == 0
        assert metadata["images_per_second"] > 0 and metadata["skipped_as_current"] is False
        table = metadata["sample_captions"]  # a typed table of the first 5 rows
        assert [column.name for column in table.schema.columns] == ["key", "status", "original", "short", "long"]
        assert len(table.records) == 5 and {record.data["status"] for record in table.records} == {"ok"}
        sidecar = sidecar_path(STORAGE.recaptioned_dir(), STORAGE.web_shard_tar(partition))
        assert metadata["sidecar"] == str(sidecar)
        assert compare_sidecar_keys(sidecar, STORAGE.web_shard_tar(partition)).ok
        rows, infos[partition] = read_sidecar(sidecar), read_sidecar_info(sidecar)
        assert rows["captioner_version"].str.startswith("sha256:").all()
        # Throughput is the sidecar's own work: every token written (the <eos> of each finished
        # caption included, so 2 per image less the captions cut at the limit) over its seconds.
        reasons = rows["reason"].fillna("")
        written = int(rows["short_tokens"].sum() + rows["long_tokens"].sum())
        tokens = written + 2 * 24 - int(reasons.str.count("cut at").sum())
        assert infos[partition]["generated_tokens"] == tokens
        assert metadata["captions_cut_at_limit"] == int(reasons.str.contains("cut at").sum())
        assert metadata["images_per_second"] == round(24 / infos[partition]["seconds"], 2)
        assert metadata["tokens_per_second"] == round(tokens / infos[partition]["seconds"], 1)
    [check] = first.get_asset_check_evaluations()
    assert check.check_name == SIDECAR_KEYS_MATCH_SHARD and check.passed
    for event in second.asset_materializations_for_node("recaptioned_shards"):
        assert event.metadata["skipped_as_current"].value is True

    client = MlflowClient(RESOURCES["mlflow"].resolved_uri())
    # The MLflow run of this test's first materialization (other tests share the store).
    [work_run] = client.search_runs(
        [client.get_experiment_by_name("recap").experiment_id],
        f"tags.`dagster.asset_key` = 'recaptioned_shards' and tags.`dagster.run_id` = '{first.run_id}'",
    )
    assert work_run.data.tags["dagster.partition"] == "00000...00001"

    # One point per shard, at its position in the run; the run's figures over both shards' work.
    def history(name: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in client.get_metric_history(work_run.info.run_id, name))

    assert history("rows") == [(0, 24.0), (1, 24.0)] and history("errors") == [(0, 0.0), (1, 0.0)]
    shard_infos = [infos["00000"], infos["00001"]]
    assert [step for step, _ in history("tokens_per_second")] == [0, 1]
    assert [v for _, v in history("tokens_per_second")] == pytest.approx(
        [i["generated_tokens"] / i["seconds"] for i in shard_infos], rel=1e-9
    )
    assert [v for _, v in history("images_per_second")] == pytest.approx(
        [24 / i["seconds"] for i in shard_infos], rel=1e-9
    )
    seconds = sum(i["seconds"] for i in shard_infos)
    assert work_run.data.metrics["run/images_per_second"] == pytest.approx(48 / seconds, rel=1e-9)
    assert work_run.data.metrics["run/tokens_per_second"] == pytest.approx(
        sum(i["generated_tokens"] for i in shard_infos) / seconds, rel=1e-9
    )
    assert work_run.data.params["recaption.sampling.top_p"] == "0.9"


def test_missing_inputs_fail_naming_them_before_any_mlflow_run(tmp_path: Path) -> None:
    storage = ProjectStorage(data_root=str(tmp_path / "data"))
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")

    def error() -> str:
        with DagsterInstance.ephemeral() as instance:
            result = materialize(
                [recaptioned_shards],
                instance=instance,
                partition_key="00000",
                raise_on_error=False,
                resources={"storage": storage, "mlflow": tracking},
                run_config=CONFIG,
            )
        assert not result.success
        return str(result.failure_data_for_node("recaptioned_shards").error)

    assert str(storage.web_shard_tar("00000")) in error()
    write_shard(storage.web_shard_tar("00000"), n=2)
    assert f"no captioner at {storage.captioner_dir()}" in error()
    assert not (tmp_path / "mlflow.db").exists() and not storage.recaptioned_dir().exists()
