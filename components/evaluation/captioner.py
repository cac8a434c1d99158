"""Judging a captioner on held-out images against their scene records and human captions.

A user's curated set has no scene records: its captions are judged by CIDEr-D against the
held-out human captions and by their lengths, and the truth metrics (object recall,
hallucination, counts, signs, backgrounds) are reported as not available, never computed
on nothing (TRUTH_NOT_AVAILABLE says why, for the asset's metadata).

Captions are written by the recaptioning engine itself (nucleus sampling, top-p 0.9,
temperature 0.7, each caption seeded by its image's key and type), so the figures describe
the very captions recaptioning would write for these images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from components.captioner.engine import CaptionEngine
from components.captioner.interface import Captioner
from components.captioner.sampling import SamplingSettings
from components.data.curated import CuratedItem, to_tensor
from components.data.shard_reader import read_shard
from components.evaluation.caption_truth import score_captions
from components.evaluation.cider import cider_d
from components.text.tokenizer import CaptionTokenizer
from components.text.words import word_counts
from components.world import Scene

TRUTH_NOT_AVAILABLE = "not available: the curated set has no scene records (a user's own set); CIDEr-D stands in"


def write_heldout_captions(
    captioner: Captioner,
    items: Sequence[CuratedItem],
    settings: SamplingSettings = SamplingSettings(),
    *,
    batch_size: int = 64,
) -> dict[str, list[str]]:
    """{"short": [...], "long": [...]}: each item's two captions, written by the recaptioning
    engine from the item's key (so exactly as recaptioning would write them for that image).
    The captioner's training mode is restored afterwards."""
    was_training = captioner.training
    engine = CaptionEngine(captioner, settings, max_rows=2 * batch_size)
    written: dict[str, list[str]] = {"short": [], "long": []}
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        pairs = engine.caption(torch.stack([to_tensor(i.image) for i in chunk]), [i.key for i in chunk])
        written["short"] += [p.short for p in pairs]
        written["long"] += [p.long for p in pairs]
    captioner.train(was_training)
    return written


def score_against_truth(
    captions: Sequence[str],
    items: Sequence[CuratedItem],
    references: Sequence[str],
    tokenizer: CaptionTokenizer | None = None,
) -> dict[str, float]:
    """Truth scores against the scene records plus CIDEr-D against the human captions."""
    scenes = [_scene(item) for item in items]
    scores = score_captions(captions, scenes, tokenizer=tokenizer.text_ids if tokenizer else None).to_dict()
    keys = [item.key for item in items]
    scores["cider_d"] = cider_d(
        dict(zip(keys, captions, strict=False)), {k: [r] for k, r in zip(keys, references, strict=False)}
    ).score
    return scores


def score_against_references(
    captions: Sequence[str],
    items: Sequence[CuratedItem],
    references: Sequence[str],
    tokenizer: CaptionTokenizer | None = None,
) -> dict[str, float]:
    """What can be judged without scene records: CIDEr-D against the human captions and lengths."""
    keys = [item.key for item in items]
    scores = {
        "n": float(len(captions)),
        "cider_d": cider_d(
            dict(zip(keys, captions, strict=True)), {k: [r] for k, r in zip(keys, references, strict=True)}
        ).score,
        "mean_words": sum(word_counts(list(captions))) / max(len(captions), 1),
    }
    if tokenizer is not None:
        scores["mean_tokens"] = sum(len(tokenizer.text_ids(c)) for c in captions) / max(len(captions), 1)
    return scores


def _scene(item: CuratedItem) -> Scene:
    if item.scene is None:
        raise ValueError(f"held-out item {item.key!r} has no world_scene record to judge captions against")
    return Scene.from_dict(item.scene)


def score_alt_text(web_shards: Sequence[Path], limit: int) -> dict[str, float] | None:
    """The baseline: the web images' own alt-text, judged exactly as the captioner's captions;
    None when no web sample carries a scene record (a user's source)."""
    captions, scenes = [], []
    for path in web_shards:
        for sample in read_shard(path, decode=False):
            if "world_scene" not in sample.meta:
                continue
            captions.append(sample.caption)
            scenes.append(Scene.from_dict(sample.meta["world_scene"]))
            if len(captions) >= limit:
                return score_captions(captions, scenes).to_dict()
    return score_captions(captions, scenes).to_dict() if captions else None


def evaluate_captioner(
    captioner: Captioner,
    items: Sequence[CuratedItem],
    settings: SamplingSettings = SamplingSettings(),
) -> tuple[dict[str, float], dict[str, list[str]]]:
    """{"long/object_recall": ..., "short/cider_d": ...} and the captions written. Items without
    scene records (a user's curated set) get score_against_references' figures only; a mix
    of items with and without them is refused."""
    with_scenes = sum(item.scene is not None for item in items)
    if not items or 0 < with_scenes < len(items):
        raise ValueError(
            f"evaluation needs held-out items all with or all without scene records, got {with_scenes} of {len(items)}"
        )
    score = score_against_truth if with_scenes else score_against_references
    written = write_heldout_captions(captioner, items, settings)
    metrics: dict[str, float] = {}
    for caption_type in ("long", "short"):
        references = [i.long if caption_type == "long" else i.short for i in items]
        scores = score(written[caption_type], items, references, captioner.tokenizer)
        for name, value in scores.items():
            metrics[f"{caption_type}/{name}"] = value
    return metrics, written
