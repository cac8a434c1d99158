"""A user's curated set: validated row by row, split by seed, written as the captioner's
curated shards, trained on like the world's, and judged by CIDEr-D where no scene records exist."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from components.captioner.train.recipe import resolve_recipe
from components.captioner.train.stage import finetune
from components.data.curated import load_curated
from components.data.shard_layout import list_shards
from components.data.shard_reader import read_shard
from components.data.user_curated import CuratedLimits, assign_splits, import_user_curated
from components.evaluation.captioner import evaluate_captioner
from tests.data.shard_files import raw_tar
from tests.user_data import CURATED_REJECTS, picture, sample, tree_checksums, write_curated_parquet, write_index


def test_a_parquet_with_image_paths_is_validated_and_split(tmp_path: Path) -> None:
    parquet = write_curated_parquet(tmp_path / "mine", n=12)
    before = tree_checksums(parquet.parent)
    report = import_user_curated(parquet, tmp_path / "curated", seed=0, limits=CuratedLimits(heldout_share=0.25))
    assert dict(report.rejected) == CURATED_REJECTS
    assert report.rejected_keys["duplicate_key"] == ["c000"] and report.rejected_keys["missing_short_caption"] == [
        "no_short"
    ]
    assert dict(report.splits) == {"train": 9, "heldout": 3} and report.kept == 12
    samples = [s for tar in report.shards for s in read_shard(tar)]
    assert sorted(s.key for s in samples) == [f"c{i:03d}" for i in range(12)]
    assert {s.ext for s in samples} == {"png", "jpg", "webp"}  # the user's bytes, as given
    first = next(s for s in samples if s.key == "c001")
    assert first.meta["short_caption"] == "a green square" and first.meta["descriptive_caption"].startswith("a large")
    heldout = load_curated(report.shards, "heldout", image_size=32)
    assert len(heldout) == 3 and all(item.image.shape == (32, 32, 3) and item.scene is None for item in heldout)
    assert tree_checksums(parquet.parent) == before


def test_splits_are_the_seeds_and_given_splits_are_kept() -> None:
    keys = [f"k{i}" for i in range(40)]
    one, again, other = (assign_splits(keys, {}, seed, 0.1) for seed in (0, 0, 1))
    assert one == again and one != other
    assert sum(v == "heldout" for v in one.values()) == 4
    given = assign_splits(keys, {"k0": "heldout", "k1": "train"}, 0, 0.1)
    assert given["k0"] == "heldout" and given["k1"] == "train"
    assert sorted(assign_splits(["a", "b"], {}, 0, 0.1).values()) == ["heldout", "train"]  # one of two, at least


def test_an_img2dataset_folder_is_read_with_its_index(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    members = [
        *sample("a", picture(0, (50, 40)), "JPEG", "alt a", descriptive_caption="a red circle above a blue line"),
        *sample("b", picture(1, (30, 30)), "PNG", "alt b"),  # its descriptive caption is in the index
        *sample("c", picture(2, (30, 30)), "PNG", "alt c"),  # none anywhere: rejected
    ]
    raw_tar(folder / "00000.tar", members)
    write_index(folder / "00000.parquet", ["a", "b", "c"])
    index = pd.read_parquet(folder / "00000.parquet")
    index["descriptive_caption"] = [None, "two grey squares side by side", None]
    index.to_parquet(folder / "00000.parquet")
    report = import_user_curated(folder, tmp_path / "curated", seed=0, limits=CuratedLimits())
    assert dict(report.rejected) == {"missing_descriptive_caption": 1} and report.kept == 2
    by_key = {s.key: s.meta for tar in report.shards for s in read_shard(tar, decode=False)}
    assert by_key["a"]["short_caption"] == "alt a"  # the .txt caption stands in for the short one
    assert by_key["b"]["descriptive_caption"] == "two grey squares side by side"


def test_a_set_that_cannot_train_or_is_no_set_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        import_user_curated(tmp_path / "nowhere", tmp_path / "out", seed=0, limits=CuratedLimits())
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no img2dataset shards"):
        import_user_curated(tmp_path / "empty", tmp_path / "out", seed=0, limits=CuratedLimits())
    parquet = write_curated_parquet(tmp_path / "mine", n=0)
    with pytest.raises(ValueError, match="no row can be trained on"):
        import_user_curated(parquet, tmp_path / "out", seed=0, limits=CuratedLimits())


def test_a_user_curated_set_trains_the_tiny_captioner_and_reports_cider(tmp_path: Path) -> None:
    parquet = write_curated_parquet(tmp_path / "mine", n=16)
    report = import_user_curated(parquet, tmp_path / "curated", seed=0, limits=CuratedLimits(heldout_share=0.25))
    recipe = resolve_recipe(
        "quick",
        preset="tiny",
        vocab_size=300,
        eval_images=4,
        **{
            "finetune.max_steps": 2,
            "finetune.batch_size": 4,
            "finetune.max_minutes": None,
            "finetune.progress_bar": False,
        },
    )
    result = finetune(
        recipe,
        init_dir=None,
        curated_shards=list_shards(tmp_path / "curated"),
        work_dir=tmp_path / "work",
        out_dir=tmp_path / "captioner",
        evaluate=evaluate_captioner,
        resume=False,
    )
    assert report.splits["heldout"] == 4 and result.fit.steps == 2
    assert set(result.metrics) == {
        f"{t}/{m}" for t in ("long", "short") for m in ("n", "cider_d", "mean_words", "mean_tokens")
    }
    assert result.metrics["long/n"] == 4 and result.metrics["long/cider_d"] >= 0.0
    assert (tmp_path / "captioner").is_dir()
