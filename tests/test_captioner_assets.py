"""The captioner assets materialize on the tiny project: weights, evaluation, MLflow registry."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance, materialize
from mlflow import MlflowClient

from components.captioner.checkpoint import load_captioner, read_extra
from recap_dagster.definitions import RESOURCES, captioner, captioner_pretrained, curated_captions, web_shards


def test_captioner_assets_train_evaluate_and_register(tiny_root: Path) -> None:
    with DagsterInstance.ephemeral() as instance:
        for partition in ("00000", "00001"):
            assert materialize([web_shards], resources=RESOURCES, instance=instance, partition_key=partition).success
        assert materialize([curated_captions], resources=RESOURCES, instance=instance).success
        pre = materialize([captioner_pretrained], resources=RESOURCES, instance=instance)
        assert pre.success
        fine = materialize([captioner], resources=RESOURCES, instance=instance)
        assert fine.success

    [event] = pre.asset_materializations_for_node("captioner_pretrained")
    assert event.metadata["steps"].value == 2
    model, config, tokenizer = load_captioner(tiny_root / "models" / "captioner")
    assert config.vocab_size == tokenizer.vocab_size
    extra = read_extra(tiny_root / "models" / "captioner")
    assert extra["stage"] == "finetune" and extra["steps"] == 2
    assert extra["initialised_from"] == str(tiny_root / "models" / "captioner_pretrained")

    [event] = fine.asset_materializations_for_node("captioner")
    metadata = {k: v.value for k, v in event.metadata.items()}
    assert metadata["evaluation"]["long/n"] == 4 and "short/cider_d" in metadata["evaluation"]
    assert 0.0 <= metadata["eval/long/object_recall"] <= 1.0
    assert metadata["baseline_alt_text"]["n"] == 20  # 5 web images per evaluated image
    assert metadata["baseline_alt_text"]["object_recall"] < 0.5
    assert metadata["heldout_captions"].count("\n") == 2 + 4 - 1  # header, rule, 4 rows

    client = MlflowClient(RESOURCES["mlflow"].resolved_uri())
    version = client.get_model_version_by_alias("recap-captioner", "newest")
    assert version.run_id == metadata["mlflow_run_id"]
    run = client.get_run(version.run_id)
    assert run.data.tags["dagster.asset_key"] == "captioner"
    assert "train/loss_step" in run.data.metrics or "train/loss" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(version.run_id, "model")}
    assert "model/model.safetensors" in artifacts
    assert {"heldout_captions.json", "heldout_long_captions.png"} <= {a.path for a in client.list_artifacts(version.run_id)}
    assert "baseline/alt_text/object_recall" in run.data.metrics
