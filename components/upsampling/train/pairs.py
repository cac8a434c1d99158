"""The (short, long) caption pairs of one image the local rewriter learns from.

`curated_pairs`: the curated set's own, true and few (a split's rows of its shards).
`captioner_pairs`: the captioner's short and long captions of one web image, from the
filtered sidecars: only rows whose long caption passed the filter (`source` "long"), the
very captions the generator trained on, with the captioner's mistakes in them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from components.data.shard_reader import read_shard


@dataclass(frozen=True)
class CaptionPair:
    short: str
    long: str
    source: str  # "curated" or "captioner"


def curated_pairs(tar_paths: Sequence[Path], split: str) -> list[CaptionPair]:
    """The pairs of `split` ("train" or "heldout"); images are not decoded."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    pairs = []
    for path in tar_paths:
        for sample in read_shard(path, decode=False):
            short, long = sample.meta.get("short_caption"), sample.meta.get("descriptive_caption", sample.caption)
            if sample.meta.get("split") == split and _both_written(short, long):
                pairs.append(CaptionPair(str(short).strip(), str(long).strip(), "curated"))
    return pairs


def captioner_pairs(sidecars: Sequence[Path]) -> list[CaptionPair]:
    """The kept (short, long) pairs of every filtered sidecar, in key order."""
    pairs = []
    for path in sidecars:
        table = pd.read_parquet(path, columns=["key", "short_caption", "caption", "source", "status"])
        table = table.sort_values(by="key")
        kept = table[(table["status"] == "ok") & (table["source"] == "long")]
        for short, long in zip(kept["short_caption"], kept["caption"], strict=True):
            if _both_written(short, long):
                pairs.append(CaptionPair(short.strip(), long.strip(), "captioner"))
    return pairs


def _both_written(short: object, long: object) -> bool:
    return isinstance(short, str) and isinstance(long, str) and bool(short.strip()) and bool(long.strip())
