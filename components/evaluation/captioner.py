"""Judging a captioner on held-out images against their scene records and human captions.

Captions are written by the recaptioning engine itself (nucleus sampling, top-p 0.9,
temperature 0.7, each caption seeded by its image's key and type), so the figures describe
the very captions recaptioning would write for these images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from components.captioner.interface import Captioner
from components.captioner.sampling import SamplingSettings
from components.captioner.train.data import CuratedItem, to_tensor
from components.data.shards import read_shard
from components.evaluation.caption_truth import score_captions
from components.evaluation.cider import cider_d
from components.recaption.engine import CaptionEngine
from components.text.tokenizer import CaptionTokenizer
from components.world import Scene


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


def _scene(item: CuratedItem) -> Scene:
    if item.scene is None:
        raise ValueError(f"held-out item {item.key!r} has no world_scene record to judge captions against")
    return Scene.from_dict(item.scene)


def score_alt_text(web_shards: Sequence[Path], limit: int) -> dict[str, float]:
    """The baseline: the web images' own alt-text, judged exactly as the captioner's captions."""
    captions, scenes = [], []
    for path in web_shards:
        for sample in read_shard(path, decode=False):
            if "world_scene" not in sample.meta:
                continue
            captions.append(sample.caption)
            scenes.append(Scene.from_dict(sample.meta["world_scene"]))
            if len(captions) >= limit:
                return score_captions(captions, scenes).to_dict()
    if not captions:
        raise ValueError("no web sample carries a world_scene record to judge its alt-text against")
    return score_captions(captions, scenes).to_dict()


def evaluate_captioner(
    captioner: Captioner,
    items: Sequence[CuratedItem],
    settings: SamplingSettings = SamplingSettings(),
) -> tuple[dict[str, float], dict[str, list[str]]]:
    """{"long/object_recall": ..., "short/cider_d": ...} and the captions written."""
    if not items or any(item.scene is None for item in items):
        raise ValueError("evaluation needs held-out items with their world_scene records")
    written = write_heldout_captions(captioner, items, settings)
    metrics: dict[str, float] = {}
    for caption_type in ("long", "short"):
        references = [i.long if caption_type == "long" else i.short for i in items]
        scores = score_against_truth(written[caption_type], items, references, captioner.tokenizer)
        for name, value in scores.items():
            metrics[f"{caption_type}/{name}"] = value
    return metrics, written
