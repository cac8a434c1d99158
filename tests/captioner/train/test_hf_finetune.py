"""The second backend through the same pipeline: a transformers model fine-tuned and judged."""

from __future__ import annotations

from pathlib import Path

from components.captioner.hf.captioner import HFCaptioner
from components.captioner.train.recipe import resolve_recipe
from components.captioner.train.stage import finetune
from components.data.build_world import build_curated_shard
from components.data.profiles import resolve_profile
from components.evaluation.captioner import evaluate_captioner
from components.world import WorldConfig
from tests.captioner.test_hf_captioner import _save_vision_encoder_decoder


def test_a_transformers_model_fine_tunes_and_captions_through_the_pipeline(tmp_path: Path) -> None:
    _save_vision_encoder_decoder(tmp_path / "hf")
    profile = resolve_profile("quick", {"curated_train": 8, "curated_heldout": 3, "curated_shard_size": 11})
    curated = build_curated_shard(tmp_path / "curated", 0, profile=profile, world=WorldConfig(), seed=0)
    recipe = resolve_recipe(
        "quick",
        hf_model=str(tmp_path / "hf"),
        pretrain=None,
        eval_images=3,
        **{
            "finetune.max_steps": 3,
            "finetune.batch_size": 4,
            "finetune.max_minutes": None,
            "finetune.progress_bar": False,
        },
    )
    result = finetune(
        recipe,
        init_dir=None,
        curated_shards=[curated.tar_path],
        work_dir=tmp_path / "work",
        out_dir=tmp_path / "out",
        evaluate=evaluate_captioner,
    )
    assert result.fit.steps == 3
    assert result.fit.precision == "32-true"  # `auto` keeps a transformers backend in fp32
    assert result.metrics["long/n"] == 3 and len(result.captions["short"]) == 3
    assert not (tmp_path / "work" / "checkpoints").exists()  # complete: nothing left to resume
    reloaded = HFCaptioner.from_pretrained(tmp_path / "out")
    assert reloaded.config.vocab_size == result_vocab(tmp_path / "out")


def result_vocab(directory: Path) -> int:
    import json

    return json.loads((directory / "hf_captioner.json").read_text())["vocab_size"]
