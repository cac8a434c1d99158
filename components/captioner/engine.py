"""The recaptioning engine: a short and a long caption for every image of a batch.

The engine plans the rows (image i's short caption is row 2i, its long one row 2i + 1,
each seeded by its key and caption type: keyed_random) and hands them to the captioner,
whose backend samples them (`Captioner.sample_rows`: CoCa decodes them continuously
batched on its KV cache, components/captioner/sampling.py; a transformers model through
`generate`). Captions depend on the image and its key only, so a shard recaptioned at
batch size 1 or 7, on any device, writes the same captions, and held-out evaluation,
which calls this engine, judges exactly the captions recaptioning writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from components.captioner.interface import Captioner
from components.captioner.sampling import RowPlan, SamplingSettings
from components.text.tokenizer import CAPTION_TYPES, CaptionType


@dataclass(frozen=True)
class CaptionPair:
    """One image's two captions, as token ids (type token and <eos> excluded) and text."""

    short: str
    long: str
    short_ids: list[int]
    long_ids: list[int]
    short_finished: bool  # False: the caption was cut at its token limit
    long_finished: bool


@dataclass
class EngineStats:
    """Work done since the engine was made, for throughput figures."""

    images: int = 0
    tokens: int = 0  # generated tokens, <eos> included
    steps: int = 0  # decoder steps (each runs every live row once)
    row_steps: int = 0  # rows run summed over steps: the decoder's real work


class CaptionEngine:
    """Writes CaptionPairs for batches of images with any `Captioner`."""

    def __init__(
        self,
        captioner: Captioner,
        settings: SamplingSettings = SamplingSettings(),
        *,
        max_rows: int | None = None,
        compact_below: float = 0.75,
    ) -> None:
        if not 0.0 <= compact_below <= 1.0:
            raise ValueError(f"compact_below={compact_below!r} must be in [0, 1]")
        if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1):
            raise ValueError(f"max_rows={max_rows!r} must be a positive int or None")
        captioner.eval()
        self.captioner = captioner
        self.tokenizer = captioner.tokenizer
        self.settings = settings.for_context(captioner.context_length)  # limits resolved
        self.max_rows = max_rows
        self.compact_below = compact_below
        self.stats = EngineStats()

    @property
    def input_size(self) -> int:
        """Side of the square images the engine takes."""
        return self.captioner.image_size

    @property
    def device(self) -> torch.device:
        return next(self.captioner.parameters()).device

    @torch.no_grad()
    def caption(self, images: torch.Tensor, keys: Sequence[str], *, max_rows: int | None = None) -> list[CaptionPair]:
        """images (B, 3, H, W) float in [0, 1], one key per image -> one CaptionPair each.
        max_rows: captions decoded at once (default the engine's; None: all 2B)."""
        ids, finished = self._sample(images, keys, CAPTION_TYPES, max_rows)
        decode = self.tokenizer.decode
        return [
            CaptionPair(
                short=decode(ids[2 * i]),
                long=decode(ids[2 * i + 1]),
                short_ids=ids[2 * i],
                long_ids=ids[2 * i + 1],
                short_finished=finished[2 * i],
                long_finished=finished[2 * i + 1],
            )
            for i in range(len(keys))
        ]

    @torch.no_grad()
    def caption_one_type(
        self, images: torch.Tensor, keys: Sequence[str], caption_type: CaptionType, *, max_rows: int | None = None
    ) -> list[tuple[str, list[int], bool]]:
        """One caption of `caption_type` per image: (text, ids, finished), seeded as `caption`
        seeds that type, so it equals the pair's caption of that type."""
        ids, finished = self._sample(images, keys, (caption_type,), max_rows)
        return [(self.tokenizer.decode(row), row, done) for row, done in zip(ids, finished, strict=True)]

    def _sample(
        self, images: torch.Tensor, keys: Sequence[str], types: Sequence[CaptionType], max_rows: int | None
    ) -> tuple[list[list[int]], list[bool]]:
        """Rows of `types` for each image, image-major: the generated ids and whether each finished."""
        if len(keys) != images.shape[0]:
            raise ValueError(f"{len(keys)} keys for {images.shape[0]} images")
        if not len(keys):
            return [], []
        s = self.settings
        out = self.captioner.sample_rows(
            images.to(self.device),
            RowPlan.for_types(keys, types, s),
            top_p=s.top_p,
            temperature=s.temperature,
            max_rows=max_rows or self.max_rows,
            compact_below=self.compact_below,
        )
        self.stats.images += len(keys)
        self.stats.tokens += sum(len(row) for row in out.ids) + sum(out.finished)
        self.stats.steps += out.steps
        self.stats.row_steps += out.row_steps
        return out.ids, out.finished
