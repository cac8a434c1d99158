"""Held-out captions of one caption type, written the way held-out evaluation writes them.

`components.evaluation.captioner.write_heldout_captions` writes both caption types of every
item. The experiments' judges along the way read one type only (captioner_study.py: long
captions at each minute mark; grounding_probe.py: the type it trains), and writing the
other type too would add to the probe's measured minutes, so they ask the recaptioning
engine for that type alone (`CaptionEngine.caption_one_type`): each caption is seeded by
the run seed, the item's key and the caption type, so it is the one write_heldout_captions
writes for that item and type (up to floating-point differences between batch shapes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from components.captioner.engine import CaptionEngine
from components.captioner.interface import Captioner
from components.captioner.sampling import SamplingSettings
from components.data.curated import CuratedItem, to_tensor
from components.text.tokenizer import CaptionType

# The studies' judging limit, in caption tokens (type token and <eos> excluded) for either
# type: the former DecodeSettings.max_new_tokens that docs/results.md's figures were judged
# with (the library's default caps short captions at 64, as recaptioning does).
JUDGE_TOKENS = 250


def judge_settings(
    context_length: int,
    *,
    top_p: float = 0.9,
    temperature: float = 0.7,
    seed: int = 0,
    max_tokens: int = JUDGE_TOKENS,
) -> SamplingSettings:
    """Sampling settings with both token limits at `max_tokens`, within a captioner of
    `context_length` (top_p 0: greedy decoding)."""
    limit = min(max_tokens, context_length - 1)
    return SamplingSettings(
        top_p=top_p, temperature=temperature, seed=seed, max_short_tokens=limit, max_long_tokens=limit
    )


def write_type_captions(
    captioner: Captioner,
    items: Sequence[CuratedItem],
    caption_type: CaptionType,
    settings: SamplingSettings,
    *,
    batch_size: int = 64,
) -> list[str]:
    """One `caption_type` caption per item, in order, `batch_size` images at a time; the
    captioner's training mode is restored afterwards."""
    was_training = captioner.training
    engine = CaptionEngine(captioner, settings)  # puts the captioner in eval mode
    captions: list[str] = []
    try:
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            images = torch.stack([to_tensor(i.image) for i in chunk])  # (B, 3, H, W); the engine moves them
            captions += [text for text, _, _ in engine.caption_one_type(images, [i.key for i in chunk], caption_type)]
    finally:
        captioner.train(was_training)
    return captions
