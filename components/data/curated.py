"""The curated set as the models read it: every sample of one split ("train" or "heldout")
with its image decoded to (H, W, 3) uint8 and its short and descriptive captions, held in
memory (the set is small). The captioner and the judge train on it, evaluation reads its
held-out split, and its `scene` (the world's truth) is read by evaluation only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from components.data.image_decode import decode_image
from components.data.shard_reader import ReadStats, read_shard


@dataclass(frozen=True)
class CuratedItem:
    key: str
    image: np.ndarray  # (H, W, 3) uint8
    short: str
    long: str
    scene: dict | None = None  # the world's truth: read by evaluation only, never by training


def load_curated(
    tar_paths: Sequence[Path], split: str, *, image_size: int = 64, stats: ReadStats | None = None
) -> list[CuratedItem]:
    """The curated samples of `split` ("train" or "heldout") as (image_size, image_size, 3)
    RGB: an image of another size or mode (a user's curated set) is resized and converted as
    recaptioning does it; corrupt samples are skipped and counted."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    stats = stats if stats is not None else ReadStats()
    items = []
    for path in tar_paths:
        for sample in read_shard(path, stats=stats, decode=False):
            if sample.meta.get("split") != split:
                continue
            short, long = sample.meta.get("short_caption"), sample.meta.get("descriptive_caption", sample.caption)
            if not isinstance(short, str) or not isinstance(long, str):
                stats.skip(sample.key, "missing_curated_caption")
                continue
            try:
                image = decode_image(sample.image, image_size)[0]
            except Exception as error:  # untrusted bytes: PIL raises an open-ended set of types
                stats.skip(sample.key, f"undecodable_image: {type(error).__name__}")
                continue
            items.append(CuratedItem(sample.key, image, short, long, sample.meta.get("world_scene")))
    return items


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float in [0, 1]."""
    # A copy: decoded shard images are read-only views of PIL's buffer.
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)
