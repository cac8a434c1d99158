"""The captioner assets materialize on the tiny project: weights, evaluation, MLflow registry."""

from __future__ import annotations

import math

import mlflow.artifacts
import pytest
from dagster import DagsterInstance, materialize
from mlflow import MlflowClient

from components.captioner.loading import load_captioner, read_extra
from components.data.curated import load_curated
from components.data.shard_layout import list_shards
from components.evaluation.captioner import score_against_truth, score_alt_text
from recap_dagster.definitions import RESOURCES, captioner, captioner_pretrained
from tests.helpers import materialize_tiny_datasets


def test_captioner_assets_train_evaluate_and_register() -> None:
    with DagsterInstance.ephemeral() as instance:
        materialize_tiny_datasets(instance)
        pre = materialize([captioner_pretrained], resources=RESOURCES, instance=instance)
        assert pre.success
        fine = materialize([captioner], resources=RESOURCES, instance=instance)
        assert fine.success

    [event] = pre.asset_materializations_for_node("captioner_pretrained")
    assert event.metadata["steps"].value == 2
    storage = RESOURCES["storage"]
    loaded = load_captioner(storage.captioner_dir())
    assert loaded.config.vocab_size == loaded.tokenizer.vocab_size
    extra = read_extra(storage.captioner_dir())
    assert extra["stage"] == "finetune" and extra["steps"] == 2
    assert extra["initialised_from"] == str(storage.captioner_pretrained_dir())

    [event] = fine.asset_materializations_for_node("captioner")
    metadata = {k: v.value for k, v in event.metadata.items()}
    evaluation = metadata["evaluation"]
    headline_names = ("object_recall", "hallucination_rate", "cider_d", "mean_tokens")
    for kind in ("long", "short"):  # both caption types judged, each on the 4 eval_images
        assert evaluation[f"{kind}/n"] == 4
        assert {f"{kind}/{name}" for name in headline_names} <= set(evaluation)
        assert evaluation[f"{kind}/mean_tokens"] > 0  # captions were written, not empty strings
    headline = {k.removeprefix("eval/"): v for k, v in metadata.items() if k.startswith("eval/")}
    assert {f"{kind}/{name}" for kind in ("long", "short") for name in headline_names} <= set(headline)
    assert headline == {k: evaluation[k] for k in headline}
    assert extra["metrics"] == evaluation  # the saved captioner carries the figures the asset reports
    assert metadata["baseline_alt_text"]["n"] == 20  # 5 web images per evaluated image
    assert metadata["baseline_alt_text"]["object_recall"] < 0.5
    heldout = metadata["heldout_captions"]  # a typed table: key, short, long; 4 rows
    assert [column.name for column in heldout.schema.columns] == ["key", "short", "long"]
    assert len(heldout.records) == 4

    client = MlflowClient(RESOURCES["mlflow"].resolved_uri())
    version = client.get_model_version_by_alias("recap-captioner", "newest")
    assert version.run_id == metadata["mlflow_run_id"]
    run = client.get_run(version.run_id)
    assert run.data.tags["dagster.asset_key"] == "captioner"
    # training_step's log_dict logs on_step only, so Lightning's MLFlowLogger writes "train/loss"
    # (no _step suffix), once per trained step (log_every_n_steps=1), at steps 0..steps-1.
    losses = client.get_metric_history(run.info.run_id, "train/loss")
    assert sorted(m.step for m in losses) == list(range(metadata["steps"])) and metadata["steps"] == 2
    assert all(math.isfinite(m.value) and m.value > 0 for m in losses)
    logged_eval = {k.removeprefix("eval/"): v for k, v in run.data.metrics.items() if k.startswith("eval/")}
    assert logged_eval == pytest.approx(evaluation)
    artifacts = {a.path for a in client.list_artifacts(version.run_id, "model/artifacts/captioner")}
    assert "model/artifacts/captioner/model.safetensors" in artifacts  # inside the pyfunc model (models from code)
    champion = client.get_model_version_by_alias("recap-captioner", "champion")
    assert champion.tags["champion.metric"] == "eval/long/cider_d"
    assert float(champion.tags["champion.value"]) >= run.data.metrics["eval/long/cider_d"]  # newest, or better
    assert {"heldout_captions.json", "heldout_long_captions.png"} <= {
        a.path for a in client.list_artifacts(version.run_id)
    }
    # Known answers. The baseline is the web alt-text of the same shards, judged the same way.
    baseline = score_alt_text(list_shards(storage.web_shards_dir()), limit=20)
    assert metadata["baseline_alt_text"] == pytest.approx(baseline)
    assert {k: run.data.metrics[f"baseline/alt_text/{k}"] for k in baseline} == pytest.approx(baseline)
    # The evaluation figures are the scores of the captions logged, against those held-out
    # images' scenes and human captions; the asset's table shows the same keys as MLflow's.
    table = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/heldout_captions.json")
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    keys = [row["key"] for row in rows]
    assert keys == [record.data["key"] for record in metadata["heldout_captions"].records]
    heldout = {
        item.key: item
        for item in load_curated(list_shards(storage.curated_dir()), "heldout", image_size=loaded.image_size)
    }
    items = [heldout[key] for key in keys]  # a KeyError: a caption of an image that is not held out
    assert len(set(keys)) == 4
    for kind in ("long", "short"):
        references = [getattr(item, kind) for item in items]
        scores = score_against_truth([row[kind] for row in rows], items, references, loaded.tokenizer)
        assert {f"{kind}/{k}": v for k, v in scores.items()} == pytest.approx(
            {k: v for k, v in evaluation.items() if k.startswith(f"{kind}/")}
        )
