"""The curation assets materialize on the tiny project: the judge is trained, calibrated,
saved where the storage says, and its figures reach the metadata and MLflow."""

from __future__ import annotations

from dagster import DagsterInstance, materialize

from components.curation.judge_checkpoint import load_judge
from mlflow import MlflowClient
from recap_dagster.definitions import RESOURCES, alignment_model, curated_captions


def test_alignment_model_trains_calibrates_and_saves() -> None:
    with DagsterInstance.ephemeral() as instance:
        assert materialize([curated_captions], resources=RESOURCES, instance=instance).success
        result = materialize([alignment_model], resources=RESOURCES, instance=instance)
        assert result.success
    [event] = result.asset_materializations_for_node("alignment_model")
    metadata = {k: v.value for k, v in event.metadata.items()}
    assert metadata["steps"] == 2 and metadata["score_kind"] == "match"
    assert metadata["heldout_true_pass_share"] >= metadata["pass_share"] == 0.95
    assert "colour_swap" in metadata["heldout_hard_negatives"]
    scorer, manifest = load_judge(RESOURCES["storage"].alignment_dir())
    assert manifest["threshold"] == metadata["threshold"] and scorer.score_kind == "match"
    assert manifest["heldout_pairs"] == 20  # the tiny set's 10 held-out images, both caption types
    run = MlflowClient(RESOURCES["mlflow"].resolved_uri()).get_run(metadata["mlflow_run_id"])
    assert run.data.metrics["threshold"] == metadata["threshold"] and run.data.params["recipe.preset"] == "tiny"
