"""prompt_upsampler materializes on the tiny project: the rewriter is trained on the curated
pairs, saved where the storage says as a transformers directory that from_pretrained loads,
measured on the benchmark's prompts (the shares are over every prompt, the drawn text always
keeps the intent), registered in MLflow, and its figures reach the metadata and DVC's files."""

from __future__ import annotations

import json

from dagster import DagsterInstance, materialize
from mlflow import MlflowClient

from components.evaluation.benchmark import TAGS
from components.upsampling.checkpoint import read_upsampler_manifest
from recap_dagster.definitions import RESOURCES, curated_captions, prompt_upsampler
from recap_dagster.defs.upsampling import MEASURES_FILE, REGISTERED_UPSAMPLER
from recap_dagster.metrics_files import write_figures


def test_prompt_upsampler_trains_measures_registers_and_saves(tmp_path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    storage = RESOURCES["storage"]
    with DagsterInstance.ephemeral() as instance:
        assert materialize([curated_captions], resources=RESOURCES, instance=instance).success
        result = materialize([prompt_upsampler], resources=RESOURCES, instance=instance)
        assert result.success
    [event] = result.asset_materializations_for_node("prompt_upsampler")
    metadata = {k: v.value for k, v in event.metadata.items()}
    assert metadata["steps"] == 2
    assert metadata["pairs"] == {
        "curated_read": 30,
        "curated_kept": 30,
        "derived_read": 0,
        "derived_kept": 0,
        "captioner_read": 0,
        "captioner_kept": 0,
    }
    # One prompt per category (quick) in the short form and in the unseen form: every one measured.
    intent = {r.data["category"]: r.data for r in metadata["intent"].records}
    assert set(intent) == {*TAGS, "unseen", "all"} and intent["all"]["prompts"] == 2 * len(TAGS)
    # Whatever the untrained rewriter writes, the guard draws from a text that keeps the intent.
    assert metadata["intent_after_guard"] == 1.0
    assert 0.0 <= metadata["intent_before_guard"] <= 1.0 and 0.0 <= metadata["fallback_rate"] <= 1.0
    assert len(metadata["rewrites"].records) == 16

    directory = storage.upsampler_dir()
    manifest = read_upsampler_manifest(directory)
    assert manifest["steps"] == 2 and manifest["tries"] == 2 and manifest["pairs"] == "curated"
    tokenizer, model = AutoTokenizer.from_pretrained(directory), AutoModelForCausalLM.from_pretrained(directory)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "a red circle"}], add_generation_prompt=True)
    assert tokenizer.decode(prompt["input_ids"]) == "<short>a red circle<long>"
    assert model.config.vocab_size == len(tokenizer)
    measures = json.loads((directory / MEASURES_FILE).read_text())
    assert measures["intent"]["all"]["after"]["share"] == 1.0

    client = MlflowClient(RESOURCES["mlflow"].resolved_uri())
    run = client.get_run(metadata["mlflow_run_id"])
    assert run.data.metrics["intent/after/all"] == 1.0 and run.data.params["recipe.preset"] == "tiny"
    version = client.get_model_version_by_alias(REGISTERED_UPSAMPLER, "newest")
    assert version.run_id == run.info.run_id

    [written] = write_figures("prompt_upsampler", storage, tmp_path)
    figures = json.loads(written.read_text())
    assert written == tmp_path / "metrics" / "prompt_upsampler.json"
    assert figures["intent"]["all"]["after"] == 1.0 and figures["steps"] == 2
