"""Regeneration through the recaptioning engine: a failing long caption is written again
with a seed of its own per attempt (filter_shard.seed_for_attempt), each caption still
drawn from its key's stream, so a rerun regenerates the same captions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from components.captioner.engine import CaptionEngine
from components.captioner.interface import Captioner
from components.captioner.sampling import SamplingSettings
from components.curation.filter_shard import Regenerate, seed_for_attempt


def engine_regenerator(captioner: Captioner, sampling: SamplingSettings, *, batch_size: int = 64) -> Regenerate:
    """Long captions for (images, keys) at regeneration `attempt`, as (text, generated tokens)."""
    engines: dict[int, CaptionEngine] = {}

    def regenerate(images: torch.Tensor, keys: Sequence[str], attempt: int) -> list[tuple[str, int]]:
        if attempt not in engines:
            settings = replace(sampling, seed=seed_for_attempt(sampling.seed, attempt))
            engines[attempt] = CaptionEngine(captioner, settings, max_rows=2 * batch_size)
        written = []
        for start in range(0, len(keys), batch_size):
            rows = engines[attempt].caption_one_type(
                images[start : start + batch_size], keys[start : start + batch_size], "long"
            )
            written += [(text, len(ids)) for text, ids, _ in rows]
        return written

    return regenerate
