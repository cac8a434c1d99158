"""Nucleus sampling of many caption rows at once: the one settings type and the row plan
every captioner backend samples from, and CoCa's continuously batched sampler.

A row is one caption of one image: its caption type token, its 64-bit seed (keyed_random:
a hash of the run seed, the image's key and the caption type) and its token limit. A
backend turns a RowPlan into token ids (`Captioner.sample_rows`); the recaptioning engine
and held-out evaluation both go through it, so the captions evaluation judges are the
captions recaptioning writes.

CoCa's sampler (`sample_rows_continuously`), against open_clip CoCa's `generate` (one
image, one caption type at a time, the whole prefix recomputed at every step) and a plain
Hugging Face `generate` call per caption type (finished rows padded along until the
slowest row of the batch ends):
- each image is encoded once, whichever rows read it (images are encoded a window at a
  time, as their rows enter);
- every step runs one new token per row on the model's KV cache;
- continuous batching: `max_rows` rows decode at once, each at its own position
  (CocaModel.decode_rows); a row stops at <eos> or at its token limit and the next
  waiting row takes its slot at once, so the batch stays full. Once no row waits,
  finished rows leave: the cache is compacted when the live share falls below
  `compact_below` (1.0 at every finish, 0.0 never). The cache starts small and doubles,
  so a compaction copies what the rows hold rather than the longest caption they might
  write. benchmarks/recaption.py measures this against batches sorted by their true
  caption lengths (the best any length sorter could do).
A row's step-t uniform comes from keyed_random, so its caption depends on its image and
seed only, never on its batch (up to floating-point differences between batch shapes,
which can only flip a draw landing within rounding of a token boundary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from components.captioner.decoding import nucleus_choice
from components.captioner.keyed_random import key_seeds, step_uniforms
from components.captioner.model import CocaModel
from components.text.tokenizer import CAPTION_TYPES, CaptionType

SHORT_TOKEN_CAP = 64  # DALL-E 3's short captions are ~20 tokens
INITIAL_CAPACITY = 32  # cache positions before the first doubling


@dataclass(frozen=True)
class SamplingSettings:
    """DALL-E 3's recaptioning decoder: nucleus sampling, top-p 0.9, temperature 0.7.

    Temperature is applied before the top-p cut (decoding.nucleus_choice). top_p = 0 is greedy
    decoding exactly. seed: the run's seed, mixed with each key. The token limits exclude
    the type token and <eos>; a row that reaches its limit is cut there. None: the
    captioner's whole context (context_length - 1), and at most SHORT_TOKEN_CAP for short
    captions.
    """

    top_p: float = 0.9
    temperature: float = 0.7
    seed: int = 0
    max_short_tokens: int | None = None
    max_long_tokens: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.top_p <= 1.0:
            raise ValueError(f"top_p={self.top_p!r} must be in [0, 1]")
        if not self.temperature > 0:
            raise ValueError(f"temperature={self.temperature!r} must be > 0 (top_p=0 gives greedy decoding)")
        for name in ("max_short_tokens", "max_long_tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}={value!r} must be a positive int or None")

    def for_context(self, context_length: int) -> SamplingSettings:
        """These settings with the None limits filled for a captioner of `context_length`;
        explicit limits beyond its context are refused."""
        limit = context_length - 1  # the type token takes one position
        for caption_type in CAPTION_TYPES:
            value = getattr(self, f"max_{caption_type}_tokens")
            if value is not None and value > limit:
                raise ValueError(
                    f"max_{caption_type}_tokens={value} exceeds the captioner's context_length - 1 = {limit}"
                )
        return replace(
            self,
            max_short_tokens=self.max_short_tokens or min(SHORT_TOKEN_CAP, limit),
            max_long_tokens=self.max_long_tokens or limit,
        )

    def max_tokens(self, caption_type: str) -> int:
        value = self.max_short_tokens if caption_type == "short" else self.max_long_tokens
        if value is None:
            raise ValueError("token limits are unresolved: use SamplingSettings.for_context(context_length)")
        return value


@dataclass(frozen=True)
class RowPlan:
    """n caption rows over a batch of B images; rows are admitted in this order."""

    image_index: np.ndarray  # (n,) int, nondecreasing: the image each row captions
    caption_types: tuple[CaptionType, ...]  # (n,) "short" | "long": the row's first token
    seeds: np.ndarray  # (n,) uint64 per-row seeds (keyed_random)
    limits: np.ndarray  # (n,) int, the most tokens a row may write (type token and <eos> excluded)

    @classmethod
    def for_types(
        cls, keys: Sequence[str], caption_types: Sequence[CaptionType], settings: SamplingSettings
    ) -> RowPlan:
        """Image i's caption of type caption_types[j] is row i * len(caption_types) + j, seeded
        by the run seed, the key and the type. `settings` must have its limits resolved (for_context)."""
        types = tuple(caption_types)
        n = len(types) * len(keys)
        seeds = np.stack([key_seeds(settings.seed, keys, t) for t in types], axis=1).reshape(n)
        limits = np.tile([settings.max_tokens(t) for t in types], len(keys))
        return cls(np.repeat(np.arange(len(keys)), len(types)), types * len(keys), seeds, limits)

    @classmethod
    def both_types(cls, keys: Sequence[str], settings: SamplingSettings) -> RowPlan:
        """Row 2i is image i's short caption, row 2i + 1 its long one."""
        return cls.for_types(keys, CAPTION_TYPES, settings)

    def __len__(self) -> int:
        return len(self.caption_types)


@dataclass(frozen=True)
class SampledRows:
    ids: list[list[int]]  # per row, the generated ids (type token and <eos> excluded)
    finished: list[bool]  # True where the row wrote <eos>; False where it was cut at its limit
    steps: int  # decoder steps (each runs every live row once)
    row_steps: int  # rows run summed over steps: the decoder's real work


class _EncodingWindow:
    """The images of one call, encoded `size` at a time as their rows are admitted, so
    memory holds one window's cross-attention keys and values, not the whole call's."""

    def __init__(self, model: CocaModel, images: torch.Tensor, size: int) -> None:
        self.model, self.images, self.size = model, images, size
        self.start = -1
        self.keys = self.values = torch.empty(0)  # (M, W, H, Q, Dh)

    def cross_kv(self, image_index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention keys and values (M, R, H, Q, Dh) of images `image_index` (R,),
        nondecreasing: rows are admitted in image order."""
        keys, values = [], []
        for i in np.unique(image_index // self.size):  # each window the rows touch, in order
            first = int(i) * self.size
            if first != self.start:
                self.keys, self.values = self.model.image_context(self.images[first : first + self.size])
                self.start = first
            local = torch.from_numpy(image_index[image_index // self.size == i] - first).to(self.keys.device)
            keys.append(self.keys[:, local])
            values.append(self.values[:, local])
        return torch.cat(keys, dim=1), torch.cat(values, dim=1)


@torch.no_grad()
def sample_rows_continuously(
    model: CocaModel,
    start_ids: torch.Tensor,
    images: torch.Tensor,
    plan: RowPlan,
    *,
    top_p: float,
    temperature: float,
    eos_id: int,
    max_rows: int | None = None,
    compact_below: float = 0.75,
) -> SampledRows:
    """The rows of `plan` over images (B, 3, H, W) in [0, 1]; start_ids (n,) each row's
    type token. At most `max_rows` rows decode at once (None: all)."""
    if model.training:
        raise ValueError("the model is in training mode (dropout on): call model.eval() before decoding")
    n = len(plan)
    device = images.device
    limits = plan.limits
    slots = min(n, max_rows or n)  # rows decoded at once
    window = _EncodingWindow(model, images, size=max(1, slots * len(images) // max(n, 1)))
    most = int(limits.max()) + 1  # positions a row can reach, type token included

    # Fill every slot, then decode one token per live slot per step.
    slot_row = np.arange(slots)  # the row each slot holds
    cache = model.empty_cache(*window.cross_kv(plan.image_index[slot_row]), min(INITIAL_CAPACITY, most))
    next_row = slots
    fed = start_ids[:slots].clone()  # (P,) the token each slot runs next
    out = np.zeros((n, int(limits.max())), dtype=np.int64)  # generated ids per row
    lengths = np.zeros(n, dtype=np.int64)  # = the position of the token a live row runs next
    finished = np.zeros(n, dtype=bool)
    live = np.ones(slots, dtype=bool)
    steps = row_steps = 0
    while live.any():
        positions = np.where(live, lengths[slot_row], 0)  # (P,) idle slots rewrite position 0
        span = int(positions.max()) + 1
        if span > cache.capacity:
            cache = cache.grown(min(max(2 * cache.capacity, span), most))
        logits, cache = model.decode_rows(fed, torch.from_numpy(positions).to(device), cache)  # (P, V)
        uniforms = torch.from_numpy(step_uniforms(plan.seeds[slot_row], positions))
        chosen = nucleus_choice(logits.float(), uniforms, top_p=top_p, temperature=temperature)  # (P,)
        steps += 1
        row_steps += len(slot_row)
        picked = chosen.cpu().numpy()
        ended = live & (picked == eos_id)
        writing = live & ~ended
        rows = slot_row[writing]
        out[rows, lengths[rows]] = picked[writing]
        lengths[rows] += 1
        finished[slot_row[ended]] = True
        live = writing & (lengths[slot_row] < limits[slot_row])  # a row at its limit is cut
        fed = chosen
        free = np.flatnonzero(~live)
        if next_row < n and len(free):  # refill: waiting rows take the freed slots
            take = free[: n - next_row]
            admitted = np.arange(next_row, next_row + len(take))
            next_row += len(take)
            slot_row[take], live[take] = admitted, True
            index = torch.from_numpy(take).to(device)
            cache.refill(index, *window.cross_kv(plan.image_index[admitted]))
            fed = fed.index_copy(0, index, start_ids[torch.from_numpy(admitted).to(device)])
        elif next_row == n and live.sum() < compact_below * len(slot_row):
            keep = np.flatnonzero(live)  # the tail: no row waits, drop the finished ones
            index = torch.from_numpy(keep).to(device)
            cache = cache.select(index)
            slot_row, live, fed = slot_row[keep], live[keep], fed[index]
    return SampledRows([out[r, : lengths[r]].tolist() for r in range(n)], finished.tolist(), steps, row_steps)
