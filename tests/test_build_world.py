"""Building shards of the shapes world: deterministic bytes, keys, splits, metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.data.build_world import build_curated_shard, build_web_shard, remove_stale_shards
from components.data.profiles import resolve_profile
from components.data.shard_check import read_index
from components.data.shard_reader import read_shard
from components.world import Scene, WorldConfig, render

TINY = resolve_profile(
    "quick", {"web_shards": 3, "web_shard_size": 12, "curated_train": 9, "curated_heldout": 5, "curated_shard_size": 8}
)
WORLD = WorldConfig()


def test_same_seed_gives_byte_identical_shards(tmp_path: Path) -> None:
    a = build_web_shard(tmp_path / "a", 1, profile=TINY, world=WORLD, seed=5)
    b = build_web_shard(tmp_path / "b", 1, profile=TINY, world=WORLD, seed=5)
    c = build_web_shard(tmp_path / "c", 1, profile=TINY, world=WORLD, seed=6)
    assert a.tar_path.read_bytes() == b.tar_path.read_bytes()
    assert a.index_path.read_bytes() == b.index_path.read_bytes()
    assert a.tar_path.read_bytes() != c.tar_path.read_bytes()


def test_a_shard_does_not_depend_on_the_others(tmp_path: Path) -> None:
    """Shard 2 alone equals shard 2 built after 0 and 1: per-sample seeding."""
    alone = build_web_shard(tmp_path / "alone", 2, profile=TINY, world=WORLD, seed=0)
    for index in range(3):
        together = build_web_shard(tmp_path / "all", index, profile=TINY, world=WORLD, seed=0)
    assert alone.tar_path.read_bytes() == together.tar_path.read_bytes()


def test_web_samples_carry_their_truth(tmp_path: Path) -> None:
    shard = build_web_shard(tmp_path, 2, profile=TINY, world=WORLD, seed=0)
    samples = list(read_shard(shard.tar_path))
    assert [s.key for s in samples] == [f"00002{i:04d}" for i in range(12)]
    for sample in samples:
        assert sample.meta["caption"] == sample.caption
        assert (sample.meta["width"], sample.meta["height"]) == (64, 64)
        scene = Scene.from_dict(sample.meta["world_scene"])
        assert (render(scene, WORLD) == sample.image).all()
    index = read_index(shard.index_path)
    assert list(index["key"]) == [s.key for s in samples]
    assert set(index["world_alt_text_kind"]) <= set(WORLD.alt_text_shares)


def test_curated_set_splits_and_captions(tmp_path: Path) -> None:
    shards = [build_curated_shard(tmp_path, i, profile=TINY, world=WORLD, seed=0) for i in range(TINY.curated_shards)]
    assert [s.samples for s in shards] == [8, 6]
    samples = [sample for shard in shards for sample in read_shard(shard.tar_path)]
    assert [s.meta["split"] for s in samples] == ["train"] * 9 + ["heldout"] * 5
    for sample in samples:
        assert sample.caption == sample.meta["descriptive_caption"]
        assert 5 <= len(sample.meta["short_caption"].split()) <= 12
        assert 40 <= len(sample.caption.split()) <= 150


def test_curated_and_web_images_are_independent_draws(tmp_path: Path) -> None:
    web = build_web_shard(tmp_path / "w", 0, profile=TINY, world=WORLD, seed=0)
    curated = build_curated_shard(tmp_path / "c", 0, profile=TINY, world=WORLD, seed=0)
    web_scenes = [s.meta["world_scene"] for s in read_shard(web.tar_path)]
    curated_scenes = [s.meta["world_scene"] for s in read_shard(curated.tar_path)]
    assert web_scenes[:8] != curated_scenes


def test_bad_output_path_and_shard_index_are_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="file"):
        build_web_shard(blocker / "web", 0, profile=TINY, world=WORLD, seed=0)
    with pytest.raises(ValueError, match="shard index 3"):
        build_web_shard(tmp_path, 3, profile=TINY, world=WORLD, seed=0)
    assert not list(tmp_path.glob("*.tar"))


def test_stale_shards_of_a_larger_profile_are_removed(tmp_path: Path) -> None:
    for name in ("00000.tar", "00000.parquet", "00001.tar", "00001.parquet", "notes.txt"):
        (tmp_path / name).write_text("")
    removed = remove_stale_shards(tmp_path, keep=1)
    assert sorted(p.name for p in removed) == ["00001.parquet", "00001.tar"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000.parquet", "00000.tar", "notes.txt"]
