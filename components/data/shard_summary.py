"""What a set of shards holds, for people and trackers: counts, caption lengths, samples."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from components.data.caption_stats import length_stats
from components.data.image_decode import decode_image
from components.data.shard_reader import ReadStats, read_shard

PREVIEW_SIZE = 64  # preview tiles, square: the world's own size; a user's images are resized to it


@dataclass
class ShardSummary:
    samples: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # e.g. "split=train": 800
    caption_stats: dict[str, float] = field(default_factory=dict)
    preview_images: list[np.ndarray] = field(default_factory=list)
    preview_captions: list[str] = field(default_factory=list)
    preview_keys: list[str] = field(default_factory=list)
    preview_meta: list[dict] = field(default_factory=list)  # each sample's json metadata


def summarize_shards(
    tar_paths: Sequence[Path],
    *,
    caption_fields: Sequence[str] = ("caption",),
    count_fields: Iterable[str] = (),
    preview: int = 8,
    preview_field: str = "caption",
) -> ShardSummary:
    """Streams `tar_paths` once; caption fields are read from each sample's json metadata.

    `caption_fields` get length statistics, `count_fields` value counts, and the first
    `preview` samples whose image decodes are kept (at PREVIEW_SIZE) with their
    `preview_field` for a grid. Only those images are decoded: a user's shard may hold
    thousands of large ones, or one that claims more pixels than the cap.
    """
    stats = ReadStats()
    captions: dict[str, list[str]] = {name: [] for name in caption_fields}
    counts: Counter[str] = Counter()
    count_fields = tuple(count_fields)
    summary = ShardSummary()
    for tar_path in tar_paths:
        for sample in read_shard(tar_path, stats=stats, decode=False):
            for name in caption_fields:
                captions[name].append(sample.caption if name == "caption" else str(sample.meta.get(name, "")))
            for name in count_fields:
                counts[f"{name}={sample.meta.get(name)}"] += 1
            if len(summary.preview_images) < preview:
                try:
                    image = decode_image(sample.image, PREVIEW_SIZE)[0]
                except Exception:  # untrusted bytes: not previewed (recaptioning reports them, row by row)
                    continue
                summary.preview_images.append(image)
                summary.preview_keys.append(sample.key)
                summary.preview_meta.append({"caption": sample.caption, **sample.meta})
                text = sample.caption if preview_field == "caption" else str(sample.meta.get(preview_field, ""))
                summary.preview_captions.append(text)
    summary.samples = stats.read
    summary.skipped = dict(stats.skipped)
    summary.counts = dict(sorted(counts.items()))
    for name, texts in captions.items():
        summary.caption_stats.update(length_stats(texts, name))
    return summary
