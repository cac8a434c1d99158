"""The local rewriter's training stage: the tiny recipe, trained on a curated shard of known
(short, long) pairs, writes a rewrite that passes the intent check for a simple prompt; the
saved directory loads through the transformers backend; the pair sources are read as the
recipe says, and bad recipes are refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from components.data.shard_writer import ShardWriter
from components.upsampling import check_intent
from components.upsampling.backends import RewriterSettings, open_upsampler
from components.upsampling.checkpoint import read_upsampler_manifest
from components.upsampling.train.pairs import captioner_pairs, curated_pairs
from components.upsampling.train.recipe import resolve_upsampler_recipe
from components.upsampling.train.stage import train_upsampler
from tests.upsampling.saved_upsampler import PAIRS


def write_curated(tar_path: Path, pairs: list[tuple[str, str, str]]) -> Path:
    """(short, long, split) rows as a curated shard (a 1-pixel PNG each: the rewriter reads no image)."""
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8ff"
        "ff3f0005fe02fea7d6a4f70000000049454e44ae426082"
    )
    with ShardWriter(tar_path, extra_columns=("short_caption", "split")) as writer:
        for i, (short, long, split) in enumerate(pairs):
            key = f"{i:09d}"
            meta = {"key": key, "caption": long, "short_caption": short, "descriptive_caption": long, "split": split}
            writer.write(key, png, long, meta, short_caption=short, split=split)
    return tar_path


@pytest.fixture
def one_thread():
    """A 60k-parameter model trains ~100x faster on one thread than on two busy ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_tiny_recipe_learns_a_rewrite_that_keeps_the_intent(tmp_path: Path, one_thread) -> None:
    shard = write_curated(
        tmp_path / "00000.tar", [(s, lg, "train") for s, lg in PAIRS] + [("a cat", "A cat.", "heldout")]
    )
    recipe = resolve_upsampler_recipe(
        "quick",
        {
            "preset": "tiny",
            "vocab_size": 300,
            "max_steps": 150,
            "max_minutes": None,
            "batch_size": 3,
            "augmented": False,
            "optimizer.lr": 1e-2,
            "optimizer.warmup_steps": 5,
            "temperature": 0.3,
            "keep_prompt": False,  # the known answer below is the learnt caption from its first word
            "progress_bar": False,
        },
    )
    out = tmp_path / "upsampler"
    result = train_upsampler(recipe, curated_shards=[shard], work_dir=tmp_path / "work", out_dir=out)
    assert result.fit.steps == 150
    assert result.pairs == {
        "curated_read": 3,
        "curated_kept": 3,
        "derived_read": 0,
        "derived_kept": 0,
        "captioner_read": 0,
        "captioner_kept": 0,
    }
    assert not (tmp_path / "work" / "checkpoints").exists()  # complete: a rerun starts afresh
    manifest = read_upsampler_manifest(out)
    assert (manifest["temperature"], manifest["pairs"], manifest["steps"]) == (0.3, "curated", 150)
    generation = json.loads((out / "generation_config.json").read_text())  # what every loader samples with
    assert manifest["no_repeat_ngram_size"] == generation["no_repeat_ngram_size"] == 8
    assert manifest["keep_prompt"] is False and manifest["forbid_contradictions"] is True
    upsampler = open_upsampler(RewriterSettings(model=str(out), seed=0))
    rewrite = upsampler.upsample("a red circle")
    assert check_intent("a red circle", rewrite.text).passed and not rewrite.used_fallback
    assert rewrite.text == PAIRS[0][1]


def test_both_profiles_keep_the_prompt_and_forbid_contradictions_by_default() -> None:
    for profile in ("quick", "paper"):
        recipe = resolve_upsampler_recipe(profile, {})
        assert recipe.keep_prompt and recipe.forbid_contradictions


def test_pairs_come_from_the_curated_split_and_the_kept_captioner_rows(tmp_path: Path) -> None:
    shard = write_curated(tmp_path / "00000.tar", [("a", "A.", "train"), ("b", "B.", "heldout"), (" ", "C.", "train")])
    assert [(p.short, p.source) for p in curated_pairs([shard], "train")] == [("a", "curated")]  # blank short: left out
    assert [p.long for p in curated_pairs([shard], "heldout")] == ["B."]
    sidecar = tmp_path / "00000.parquet"
    pd.DataFrame(
        {
            "key": ["2", "1", "3", "4"],
            "short_caption": ["s2", "s1", "s3", None],
            "caption": ["l2", "l1", "original", "l4"],
            "source": ["long", "long", "original", "long"],
            "status": ["ok", "ok", "ok", "ok"],
        }
    ).to_parquet(sidecar)
    # Only rows whose long caption passed the filter, in key order; a missing short is skipped.
    assert [(p.short, p.long) for p in captioner_pairs([sidecar])] == [("s1", "l1"), ("s2", "l2")]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pairs": "web"}, "pairs='web' must be one of"),
        ({"top_p": 0.0}, "top_p must be in"),
        ({"tries": 0}, "tries"),
        ({"colour": 1}, "colour"),
    ],
)
def test_bad_recipes_are_refused_naming_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_upsampler_recipe("quick", overrides)


def test_captioner_pairs_need_sidecars(tmp_path: Path) -> None:
    shard = write_curated(tmp_path / "00000.tar", [("a", "A.", "train")])
    recipe = resolve_upsampler_recipe("quick", {"pairs": "captioner"})
    with pytest.raises(ValueError, match="needs filtered caption sidecars"):
        train_upsampler(recipe, curated_shards=[shard], work_dir=tmp_path / "w", out_dir=tmp_path / "o")


def test_the_intent_filter_drops_pairs_whose_long_caption_loses_the_short_ones_facts(tmp_path: Path) -> None:
    from components.upsampling.train.stage import training_pairs

    shard = write_curated(tmp_path / "00000.tar", [("a", "A.", "heldout")])
    sidecar = tmp_path / "00000.parquet"
    pd.DataFrame(
        {
            "key": ["1", "2"],
            "short_caption": ["a red circle", "a blue square"],
            "caption": ["A big red circle on white.", "A green triangle on white."],  # the second drops the square
            "source": ["long", "long"],
            "status": ["ok", "ok"],
        }
    ).to_parquet(sidecar)
    pairs, counts = training_pairs(resolve_upsampler_recipe("quick", {"pairs": "both"}), [shard], [sidecar])
    assert [p.short for p in pairs] == ["a red circle"]
    assert counts == {
        "curated_read": 0,
        "curated_kept": 0,
        "derived_read": 0,
        "derived_kept": 0,
        "captioner_read": 2,
        "captioner_kept": 1,
    }
    unfiltered, _ = training_pairs(
        resolve_upsampler_recipe("quick", {"pairs": "captioner", "intent_filtered": False}), [shard], [sidecar]
    )
    assert len(unfiltered) == 2
