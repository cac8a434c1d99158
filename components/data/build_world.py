"""Writes the shapes world as img2dataset-layout shards: the web set and the curated set.

Every sample draws from its own generator, seeded by (seed, stream, global index), so a
shard can be built alone, in any order or process, and the same seed gives the same bytes.
The web set and the curated set use different streams, so their images are independent
draws (the curated set is never a subset of the web set).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components.data.profiles import DatasetProfile
from components.data.shard_layout import shard_name
from components.data.shard_writer import ShardWriter
from components.io.paths import check_output_dir
from components.world import WorldConfig, describe_scene, encode_png, render, sample_alt_text, sample_scene

WEB_STREAM = 0
CURATED_STREAM = 1


@dataclass(frozen=True)
class ShardSummary:
    tar_path: Path
    index_path: Path
    samples: int


def sample_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The generator of one sample: independent of every other sample's."""
    return np.random.default_rng([seed, stream, index])


def web_key(shard_index: int, position: int) -> str:
    """img2dataset's 9-digit key: 5 digits of shard, 4 of position in it."""
    return f"{shard_name(shard_index)}{position:04d}"


def build_web_shard(
    out_dir: Path, shard_index: int, *, profile: DatasetProfile, world: WorldConfig, seed: int
) -> ShardSummary:
    """Writes web shard `shard_index`: images with their noisy alt-text captions."""
    if not 0 <= shard_index < profile.web_shards:
        raise ValueError(f"shard index {shard_index} outside [0, {profile.web_shards}) of profile {profile.name!r}")
    check_output_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tar_path = out_dir / f"{shard_name(shard_index)}.tar"
    size = world.image_size
    with ShardWriter(tar_path, extra_columns=("world_alt_text_kind",)) as writer:
        for position in range(profile.web_shard_size):
            global_index = shard_index * profile.web_shard_size + position
            rng = sample_rng(seed, WEB_STREAM, global_index)
            scene = sample_scene(rng, world)
            alt = sample_alt_text(scene, rng, world)
            key = web_key(shard_index, position)
            meta = {
                "key": key,
                "caption": alt.text,
                "width": size,
                "height": size,
                "world_scene": scene.to_dict(),
                "world_alt_text_kind": alt.kind,
            }
            writer.write(key, encode_png(render(scene, world)), alt.text, meta, world_alt_text_kind=alt.kind)
    return ShardSummary(tar_path, tar_path.with_suffix(".parquet"), profile.web_shard_size)


def curated_split(profile: DatasetProfile, global_index: int) -> str:
    """The first `curated_train` images train the captioner; the rest are held out."""
    return "train" if global_index < profile.curated_train else "heldout"


def build_curated_shard(
    out_dir: Path, shard_index: int, *, profile: DatasetProfile, world: WorldConfig, seed: int
) -> ShardSummary:
    """Writes curated shard `shard_index`: images with short and descriptive captions."""
    if not 0 <= shard_index < profile.curated_shards:
        raise ValueError(f"curated shard index {shard_index} outside [0, {profile.curated_shards})")
    check_output_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tar_path = out_dir / f"{shard_name(shard_index)}.tar"
    size = world.image_size
    start = shard_index * profile.curated_shard_size
    stop = min(start + profile.curated_shard_size, profile.curated_total)
    with ShardWriter(tar_path, extra_columns=("short_caption", "split")) as writer:
        for global_index in range(start, stop):
            rng = sample_rng(seed, CURATED_STREAM, global_index)
            scene = sample_scene(rng, world)
            captions = describe_scene(scene, rng)
            key = web_key(shard_index, global_index - start)
            split = curated_split(profile, global_index)
            meta = {
                "key": key,
                "caption": captions.descriptive,
                "short_caption": captions.short,
                "descriptive_caption": captions.descriptive,
                "split": split,
                "width": size,
                "height": size,
                "world_scene": scene.to_dict(),
            }
            writer.write(
                key,
                encode_png(render(scene, world)),
                captions.descriptive,
                meta,
                short_caption=captions.short,
                split=split,
            )
    return ShardSummary(tar_path, tar_path.with_suffix(".parquet"), stop - start)


def remove_stale_shards(out_dir: Path, keep: int) -> list[Path]:
    """Deletes shards numbered `keep` and above (left by a larger earlier profile)."""
    removed = []
    if not out_dir.is_dir():
        return removed
    for path in sorted(out_dir.iterdir()):
        stem = path.name.split(".")[0]
        if stem.isdigit() and int(stem) >= keep and path.suffix in (".tar", ".parquet"):
            path.unlink()
            removed.append(path)
    return removed
