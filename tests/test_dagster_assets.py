"""The code location loads, and both dataset assets materialize with their metadata and checks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, materialize
from mlflow import MlflowClient

from components.curation.mix import MIX_SPECS
from components.data.profiles import PROFILES
from components.data.shard_check import read_index, tar_keys
from components.data.shard_reader import read_shard
from components.io.hashing import dir_md5
from recap_dagster.config import check_partitions_match
from recap_dagster.definitions import ASSETS, RESOURCES, defs
from recap_dagster.resources import MlflowTracking, ProjectStorage


@pytest.fixture(scope="module")
def instance() -> DagsterInstance:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def test_definitions_load_with_the_tiny_partitions() -> None:
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == {
        "web_shards",
        "curated_captions",
        "captioner_pretrained",
        "captioner",
        "recaptioned_shards",
        "alignment_model",
        "filtered_captions",
        "training_mix",
        "prompt_upsampler",
        "vae",
        "generator",
        "eval_scores",
        "eval_report",
    }
    web = graph.get(AssetKey("web_shards"))
    assert web.partitions_def.get_partition_keys() == ["00000", "00001"]
    checks = {key.name for key in graph.asset_check_keys}
    assert checks == {
        "tar_matches_index",
        "sidecar_keys_match_shard",
        "filtered_keys_complete",
        "no_empty_caption",
        "fallback_rate",
        "disk_matches_materialization",  # the drift check, one per asset
    }
    assert defs.resolve_job_def("web_shards_job").partitions_def == web.partitions_def
    assert defs.resolve_job_def("curated_captions_job").partitions_def is None
    assert graph.get(AssetKey("captioner")).parent_keys == {
        AssetKey("captioner_pretrained"),
        AssetKey("curated_captions"),
    }
    defs.resolve_job_def("captioner_job")
    recaptioned = graph.get(AssetKey("recaptioned_shards"))
    assert recaptioned.partitions_def == web.partitions_def
    assert recaptioned.parent_keys == {AssetKey("web_shards"), AssetKey("captioner")}
    assert defs.resolve_job_def("recaption_job").partitions_def == web.partitions_def
    assert graph.get(AssetKey("alignment_model")).parent_keys == {AssetKey("curated_captions")}
    defs.resolve_job_def("alignment_job")
    filtered = graph.get(AssetKey("filtered_captions"))
    assert filtered.partitions_def == web.partitions_def
    assert filtered.parent_keys == {AssetKey("recaptioned_shards"), AssetKey("alignment_model"), AssetKey("captioner")}
    assert graph.get(AssetKey("training_mix")).parent_keys == {AssetKey("filtered_captions")}
    assert graph.get(AssetKey("vae")).parent_keys == {AssetKey("web_shards"), AssetKey("curated_captions")}
    assert graph.get(AssetKey("vae")).partitions_def is None
    defs.resolve_job_def("vae_job")
    generator = graph.get(AssetKey("generator"))
    assert generator.parent_keys == {
        AssetKey("training_mix"),
        AssetKey("vae"),
        AssetKey("web_shards"),
        AssetKey("prompt_upsampler"),  # bundled into the registered model
    }
    upsampler = graph.get(AssetKey("prompt_upsampler"))
    assert upsampler.parent_keys == {AssetKey("curated_captions"), AssetKey("filtered_captions")}
    assert generator.partitions_def.get_partition_keys() == list(MIX_SPECS)  # one generator per mix spec
    assert defs.resolve_job_def("generator_job").partitions_def == generator.partitions_def


def metadata_of(result, asset: str) -> dict:
    [event] = result.asset_materializations_for_node(asset)
    return {k: v.value for k, v in event.metadata.items()}


def test_web_shards_materializes_a_partition(tiny_root: Path, instance: DagsterInstance) -> None:
    result = materialize([ASSETS[0]], resources=RESOURCES, partition_key="00001", instance=instance)
    assert result.success
    shard = RESOURCES["storage"].web_shard_tar("00001")
    keys = tar_keys(shard)
    assert keys == list(read_index(shard.with_suffix(".parquet"))["key"])
    assert keys[0] == "000010000" and len(keys) == 24
    metadata = metadata_of(result, "web_shards")
    assert metadata["samples"] == 24 and metadata["skipped"] == 0
    assert metadata["dvc_dir_md5"] == dir_md5(shard.parent)
    assert metadata["samples_grid"].startswith("**web shard 00001**\n\n![")
    # Known answers from the shard itself: its alt-text lengths and its alt-text kinds.
    samples = list(read_shard(shard, decode=False))
    words = [len(sample.caption.split()) for sample in samples]
    assert metadata["caption_words_mean"] == round(sum(words) / len(words), 2)
    assert (metadata["caption_words_min"], metadata["caption_words_max"]) == (min(words), max(words))
    assert metadata["counts"] == dict(
        Counter(f"world_alt_text_kind={s.meta.get('world_alt_text_kind')}" for s in samples)
    )
    assert sum(metadata["counts"].values()) == 24
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "tar_matches_index" and check.passed

    run = MlflowClient(RESOURCES["mlflow"].resolved_uri()).get_run(metadata["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["dagster.run_id"] == result.run_id
    assert run.data.tags["dagster.asset_key"] == "web_shards"
    assert run.data.tags["dagster.partition"] == "00001"
    assert run.data.metrics["samples"] == 24
    artifacts = {a.path for a in MlflowClient(RESOURCES["mlflow"].resolved_uri()).list_artifacts(run.info.run_id)}
    assert {"samples.png", "stats.json"} <= artifacts
    assert run.info.artifact_uri.startswith((tiny_root / "mlflow" / "artifacts").as_uri())


def test_curated_captions_materializes_with_splits(instance: DagsterInstance) -> None:
    result = materialize([ASSETS[1]], resources=RESOURCES, instance=instance)
    assert result.success
    metadata = metadata_of(result, "curated_captions")
    assert metadata["samples"] == 40
    assert metadata["counts"] == {"split=heldout": 10, "split=train": 30}
    assert metadata["descriptive_caption_words_min"] >= 40
    assert metadata["short_caption_words_max"] <= 12
    assert sorted(p.name for p in RESOURCES["storage"].curated_dir().iterdir()) == [
        "00000.parquet",
        "00000.tar",
        "00001.parquet",
        "00001.tar",
    ]
    [check] = result.get_asset_check_evaluations()
    assert check.passed


def test_unknown_profile_in_run_config_fails_naming_it(instance: DagsterInstance) -> None:
    result = materialize(
        [ASSETS[1]],
        resources=RESOURCES,
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"curated_captions": {"config": {"profile": "enormous"}}}},
    )
    assert not result.success
    assert "'enormous'" in str(result.failure_data_for_node("curated_captions").error)


def test_other_profile_with_other_shard_count_is_refused() -> None:
    check_partitions_match(PROFILES["quick"], ["00000", "00001", "00002", "00003"], "quick")
    with pytest.raises(ValueError, match=r"'paper' has 50 web shards.*4 partitions.*RECAP_PROFILE=paper"):
        check_partitions_match(PROFILES["paper"], ["00000", "00001", "00002", "00003"], "quick")


def test_output_path_that_is_a_file_fails_before_any_work(tmp_path: Path, instance: DagsterInstance) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    result = materialize(
        [ASSETS[1]],
        instance=instance,
        raise_on_error=False,
        resources={"storage": ProjectStorage(data_root=str(blocker)), "mlflow": tracking},
    )
    assert not result.success
    assert str(blocker) in str(result.failure_data_for_node("curated_captions").error)
    assert not (tmp_path / "mlflow.db").exists()  # no MLflow run was even started


def test_cli_refuses_an_unknown_profile_before_work(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("profile: quick\n")
    env = {**os.environ, "RECAP_ROOT": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dh")}
    done = subprocess.run(
        [sys.executable, "-m", "recap_dagster.cli", "materialize", "--all", "--profile", "gigantic"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2
    assert "'gigantic'" in done.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "mlflow").exists()


def test_the_cli_runs_an_asset_through_its_named_job(instance: DagsterInstance, monkeypatch) -> None:
    """Not `__ephemeral_asset_job__`: the job that selects the asset, and who launched it."""
    from recap_dagster.cli import materialize_runs

    monkeypatch.setenv("RECAP_LAUNCHED_BY", "dvc")  # as dvc.yaml's stages run it
    curated = next(a for a in ASSETS if a.key == AssetKey("curated_captions"))
    assert materialize_runs([curated], None, instance, RESOURCES, keep_going=False) == 0
    run = instance.get_runs(limit=1)[0]
    assert run.job_name == "curated_captions_job"
    assert run.tags["recap/launched_by"] == "cli" and run.tags["recap/launcher"] == "dvc"
    assert run.asset_selection == {AssetKey("curated_captions")}
