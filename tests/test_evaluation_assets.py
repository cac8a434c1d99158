"""The evaluation group materializes on the tiny project: eval_scores draws the benchmark in
GenEval's layout and scores it, per generator partition; eval_report pairs the generators, and
a generator against an exact copy of itself is preferred exactly half the time (every pair
ties); MLflow holds one parent run with a child per generator, under the same metric names;
the DVC metrics and plots files are written from the report."""

from __future__ import annotations

import json
import shutil

from dagster import DagsterInstance, materialize
from mlflow import MlflowClient

from components.evaluation.benchmark import TAGS
from components.evaluation.benchmark_folder import read_folder
from components.evaluation.generator_scores import GeneratorScores
from recap_dagster.definitions import (
    RESOURCES,
    alignment_model,
    eval_report,
    eval_scores,
    generator,
    prompt_upsampler,
    vae,
)
from recap_dagster.defs.evaluation import BENCHMARK_DIR, SCORES_FILE
from recap_dagster.metrics_files import write_figures
from tests.helpers import materialize_tiny_datasets, write_alt_text_mix

SMALL = {"ops": {"eval_scores": {"config": {"per_category": 1, "real_images": 8}}}}


def test_eval_scores_and_report_over_two_generators(tmp_path) -> None:
    storage = RESOURCES["storage"]
    with DagsterInstance.ephemeral() as instance:
        if not storage.web_shards_dir().is_dir():
            materialize_tiny_datasets(instance)
        made = ((alignment_model, storage.alignment_dir()), (vae, storage.vae_dir()))
        for asset, where in (*made, (prompt_upsampler, storage.upsampler_dir())):
            if not where.is_dir():
                assert materialize([asset], resources=RESOURCES, instance=instance).success
        if not storage.generator_dir("original_only").is_dir():
            write_alt_text_mix(storage)
            assert materialize(
                [generator], resources=RESOURCES, instance=instance, partition_key="original_only"
            ).success
        # The same weights under another mix's name: every image pair is identical.
        shutil.copytree(storage.generator_dir("original_only"), storage.generator_dir("paper"), dirs_exist_ok=True)
        for mix in ("original_only", "paper"):
            result = materialize(
                [eval_scores], resources=RESOURCES, instance=instance, partition_key=mix, run_config=SMALL
            )
            assert result.success
        [event] = result.asset_materializations_for_node("eval_scores")
        metadata = {k: v.value for k, v in event.metadata.items()}
        report = materialize([eval_report], resources=RESOURCES, instance=instance)
        assert report.success

    # eval_scores: a GenEval folder of 8 categories x 3 forms, and the short and unseen prompts
    # as the upsampler rewrote them, one sample each, and its scores
    folder = read_folder(storage.eval_dir("paper") / BENCHMARK_DIR)
    assert len(folder.prompts) == len(TAGS) * 5 and not folder.missing
    line = json.loads((folder.root / "00000" / "metadata.jsonl").read_text())
    assert {"tag", "prompt", "include", "exclude", "background", "text", "form"} <= set(line)
    upsampled = json.loads((folder.root / f"{len(TAGS) * 3:05d}" / "metadata.jsonl").read_text())
    assert upsampled["form"] == "short_upsampled" and upsampled["user_prompt"] == line["prompt"]
    assert upsampled["clauses"] == line["clauses"]  # judged as the prompt the user wrote
    scores = GeneratorScores.read(storage.eval_dir("paper") / SCORES_FILE)
    forms = {"short", "long", "unseen", "short_upsampled", "unseen_upsampled"}
    assert scores.images == 40 and set(scores.overall) == forms
    assert scores.distances is not None and scores.distances["n_real"] == 8 and scores.clip_score is not None
    assert metadata["images"] == 40 and "categories" in metadata and "judged_samples" in metadata
    assert metadata["upsampling"]["prompts"] == 2 * len(TAGS)  # every short and unseen prompt, guarded
    assert metadata["eval/clip_score"] == round(scores.clip_score, 4)

    # eval_report: the copy against the reference ties every pair
    [event] = report.asset_materializations_for_node("eval_report")
    figures = json.loads((storage.eval_report_dir() / "report.json").read_text())
    assert set(figures) == {"original_only", "paper"}
    assert figures["paper"]["preference/rate"] == 0.5 and figures["paper"]["preference/p_value"] == 1.0
    assert figures["paper"]["paper/preference"] == 0.717 and "preference/rate" not in figures["original_only"]
    assert figures["paper"]["geneval/short/overall"] == figures["original_only"]["geneval/short/overall"]
    text = (storage.eval_report_dir() / "report.txt").read_text()
    assert "0.50 [0.50, 0.50]" in text and "71.7% (95% synthetic / 5% original)" in text

    # MLflow: a parent with a child per generator, the same metric names in each
    client = MlflowClient(RESOURCES["mlflow"].resolved_uri())
    parent = client.get_run(event.metadata["mlflow_run_id"].value)  # pyright: ignore[reportAttributeAccessIssue]
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(c.data.tags["recap.mix"] for c in children) == ["original_only", "paper"]
    # (the preference is against the reference, and captions/... only where a captioner wrote the mix)
    names = [{m for m in c.data.metrics if not m.startswith(("preference/", "captions/"))} for c in children]
    assert names[0] == names[1] and {"geneval/short/overall", "clip_score", "fid", "kid"} <= names[0]

    # DVC: metrics/eval_report.json and plots/eval_report.json from the report
    written = write_figures("eval_report", storage, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "metrics/eval_report.json",
        "plots/eval_report.json",
    ]
    bars = json.loads(written[1].read_text())
    assert [b["generator"] for b in bars] == ["original_only", "paper"] and forms <= set(bars[0])
