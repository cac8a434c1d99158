"""The curation assets materialize on the tiny project: the judge is trained, calibrated,
saved where the storage says, and its figures reach the metadata and MLflow."""

from __future__ import annotations

from dagster import DagsterInstance, materialize
from mlflow import MlflowClient

from components.judge.checkpoint import load_judge
from recap_dagster.definitions import RESOURCES, alignment_model, curated_captions
from tests.helpers import materialize_tiny_datasets


def test_alignment_model_trains_calibrates_and_saves() -> None:
    with DagsterInstance.ephemeral() as instance:
        assert materialize([curated_captions], resources=RESOURCES, instance=instance).success
        result = materialize([alignment_model], resources=RESOURCES, instance=instance)
        assert result.success
    [event] = result.asset_materializations_for_node("alignment_model")
    metadata = {k: v.value for k, v in event.metadata.items()}
    assert metadata["steps"] == 2 and metadata["score_kind"] == "match"
    assert metadata["heldout_true_pass_share"] >= metadata["pass_share"] == 0.95
    negatives = {record.data["perturbation"]: record.data for record in metadata["heldout_hard_negatives"].records}
    assert "colour_swap" in negatives and 0.0 <= negatives["colour_swap"]["rejected"] <= 1.0
    scorer, manifest = load_judge(RESOURCES["storage"].alignment_dir())
    assert manifest["threshold"] == metadata["threshold"] and scorer.score_kind == "match"
    assert manifest["heldout_pairs"] == 20  # the tiny set's 10 held-out images, both caption types
    run = MlflowClient(RESOURCES["mlflow"].resolved_uri()).get_run(metadata["mlflow_run_id"])
    assert run.data.metrics["threshold"] == metadata["threshold"] and run.data.params["recipe.preset"] == "tiny"


def test_filtered_captions_judge_regenerate_and_check() -> None:
    from recap_dagster.definitions import (
        captioner,
        captioner_pretrained,
        filtered_captions,
        recaptioned_shards,
    )

    with DagsterInstance.ephemeral() as instance:
        materialize_tiny_datasets(instance)
        assert materialize([captioner_pretrained], resources=RESOURCES, instance=instance).success
        assert materialize([captioner], resources=RESOURCES, instance=instance).success
        assert materialize([alignment_model], resources=RESOURCES, instance=instance).success
        assert materialize([recaptioned_shards], resources=RESOURCES, instance=instance, partition_key="00000").success
        result = materialize([filtered_captions], resources=RESOURCES, instance=instance, partition_key="00000")
        assert result.success
    import pandas as pd

    storage = RESOURCES["storage"]
    frame = pd.read_parquet(storage.filtered_dir() / "00000.parquet")
    recaptioned = pd.read_parquet(storage.recaptioned_dir() / "00000.parquet")
    assert list(frame["key"]) == list(recaptioned["key"]) and len(frame) == 24
    assert set(frame["source"]) <= {"long", "original", "short"}
    # The untrained captioner's long captions fail (too short, repetitive or unbelieved): judged
    # up to three times each, then the original.
    assert (frame["attempts"] >= 1).all() and frame["attempts"].max() <= 3
    fell_back = frame[frame["source"] == "original"]
    assert (fell_back["caption"] == fell_back["original_caption"]).all()
    assert fell_back["filter_reason"].str.endswith("fell back to the original").all()
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["filtered_keys_complete"].passed and checks["no_empty_caption"].passed
    assert "fallback_share" in checks["fallback_rate"].metadata
    [event] = result.asset_materializations_for_node("filtered_captions")
    assert {"sources", "first_attempt_failures", "score_histogram", "length_histogram"} <= set(event.metadata)


def test_training_mix_writes_every_spec_from_the_filtered_rows() -> None:
    """Runs after the filtered test above has left data/filtered/00000.parquet in the tiny project."""
    import pandas as pd

    from components.curation.mix import MIX_SPECS
    from components.recaption.sidecar import read_table_info
    from recap_dagster.definitions import training_mix

    storage = RESOURCES["storage"]
    assert (storage.filtered_dir() / "00000.parquet").is_file()
    with DagsterInstance.ephemeral() as instance:
        result = materialize([training_mix], resources=RESOURCES, instance=instance)
        assert result.success
    filtered = pd.read_parquet(storage.filtered_dir() / "00000.parquet")
    usable = filtered[filtered["status"] != "error"]
    for name, spec in MIX_SPECS.items():
        manifest = pd.read_parquet(storage.mix_dir() / f"{name}.parquet")
        assert list(manifest.columns) == ["key", "shard", "caption", "source"]
        assert sorted(manifest["key"]) == sorted(usable["key"]) and set(manifest["shard"]) == {"00000"}
        info = read_table_info(storage.mix_dir() / f"{name}.parquet", b"recap.mix", "mix manifest")
        assert info["spec_version"] == spec.version and info["seed"] == 0
    oracle = pd.read_parquet(storage.mix_dir() / "oracle.parquet")
    assert set(oracle["source"]) <= {"oracle", "original"} and (oracle["source"] == "oracle").sum() >= 20
    original = pd.read_parquet(storage.mix_dir() / "original_only.parquet").set_index("key")
    assert (original["caption"] == usable.set_index("key").loc[original.index, "original_caption"]).all()
    [event] = result.asset_materializations_for_node("training_mix")
    mixes = {record.data["spec"]: record.data for record in event.metadata["mixes"].records}
    assert "paper" in mixes and mixes["paper"]["rows"] == len(pd.read_parquet(storage.mix_dir() / "paper.parquet"))
    assert {"blend_65", "blend_80", "blend_90"} <= set(mixes)  # the training-mix table's blends
