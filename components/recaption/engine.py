"""The recaptioning engine: a short and a long caption for every image of a batch.

What makes it fast, against open_clip CoCa's `generate` (one image, one caption type at a
time, the whole prefix recomputed at every step) and against a plain Hugging Face
`generate` call per caption type (one image pass per call, finished rows padded along
until the slowest row of the batch ends):

- each image is encoded once, and its short and long captions are decoded from that one
  encoding, side by side in one batch of 2B rows sharing the cross-attention keys;
- every step runs one new token per row on the model's KV cache;
- a row stops at <eos> or at its type's token limit, and finished rows leave the batch:
  the cache is compacted once the live share falls below `compact_below` (1.0 compacts
  at every finish, 0.0 never, which is lockstep decoding; 0.75 measured fastest on CPU,
  benchmarks/recaption.py), and it starts small and doubles, so a compaction copies what
  the rows hold rather than the longest caption they might write.

Captions depend on the image and its key only: each (key, caption type) row draws its
step-t uniform from keyed_random, so a shard recaptioned at batch size 1 or 7, on any
device, writes the same captions (up to floating-point differences between batch shapes,
which can only flip a draw landing within rounding of a token boundary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from components.models.coca import CocaModel
from components.models.hf_captioner import HFCaptioner
from components.models.image_inputs import check_images
from components.recaption.keyed_random import key_seed, key_seeds, step_uniforms
from components.sampling.caption_decoding import nucleus_choice
from components.text.tokenizer import CaptionTokenizer

CAPTION_TYPES = ("short", "long")
SHORT_TOKEN_CAP = 64
INITIAL_CAPACITY = 32  # cache positions before the first doubling


@dataclass(frozen=True)
class SamplingSettings:
    """DALL-E 3's recaptioning decoder: nucleus sampling, top-p 0.9, temperature 0.7.

    Temperature is applied before the top-p cut (see caption_decoding.nucleus). top_p = 0
    is greedy decoding exactly. seed: the run's seed, mixed with each key. The token
    limits exclude the type token and <eos>; a row that reaches its limit is cut there.
    None: the captioner's whole context (context_length - 1), and at most
    SHORT_TOKEN_CAP for short captions (DALL-E 3's are ~20 tokens).
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
                raise ValueError(f"max_{caption_type}_tokens={value} exceeds the captioner's context_length - 1 = {limit}")
        return replace(self, max_short_tokens=self.max_short_tokens or min(SHORT_TOKEN_CAP, limit),
                       max_long_tokens=self.max_long_tokens or limit)

    def max_tokens(self, caption_type: str) -> int:
        value = self.max_short_tokens if caption_type == "short" else self.max_long_tokens
        if value is None:
            raise ValueError("token limits are unresolved: use SamplingSettings.for_context(context_length)")
        return value


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
    """Writes CaptionPairs for batches of images with a CocaModel or an HFCaptioner."""

    def __init__(
        self,
        model: CocaModel | HFCaptioner,
        tokenizer: CaptionTokenizer,
        settings: SamplingSettings = SamplingSettings(),
        *,
        compact_below: float = 0.75,
    ) -> None:
        if not 0.0 <= compact_below <= 1.0:
            raise ValueError(f"compact_below={compact_below!r} must be in [0, 1]")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.settings = settings.for_context(model.config.context_length)  # limits resolved
        self.compact_below = compact_below
        self.stats = EngineStats()

    @property
    def input_size(self) -> int:
        """Side of the square images the engine takes (the HF backend resizes further itself)."""
        if isinstance(self.model, HFCaptioner):
            return max(self.model.config.image.size)
        return self.model.config.image_size

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def caption(self, images: torch.Tensor, keys: Sequence[str]) -> list[CaptionPair]:
        """images (B, 3, H, W) float in [0, 1], one key per image -> one CaptionPair each."""
        if len(keys) != images.shape[0]:
            raise ValueError(f"{len(keys)} keys for {images.shape[0]} images")
        if not len(keys):
            return []
        images = images.to(self.device)
        if isinstance(self.model, HFCaptioner):
            ids, finished = self._caption_hf(images, keys)
        else:
            check_images(images, channels=self.model.config.channels, size=self.model.config.image_size)
            ids, finished = self._caption_coca(images, keys)
        b = len(keys)
        self.stats.images += b
        self.stats.tokens += sum(len(row) for row in ids) + sum(finished)
        return [
            CaptionPair(
                short=self.tokenizer.decode(ids[i]), long=self.tokenizer.decode(ids[b + i]),
                short_ids=ids[i], long_ids=ids[b + i], short_finished=finished[i], long_finished=finished[b + i],
            )  # fmt: skip
            for i in range(b)
        ]

    # Rows 0..B-1 are the short captions, rows B..2B-1 the long ones, of images 0..B-1.

    def _caption_coca(self, images: torch.Tensor, keys: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        model, s, tok = self.model, self.settings, self.tokenizer
        b = len(keys)
        n = 2 * b
        limits = np.array([s.max_short_tokens] * b + [s.max_long_tokens] * b)  # (2B,)
        seeds = np.concatenate([key_seeds(s.seed, keys, t) for t in CAPTION_TYPES])  # (2B,) uint64
        start = torch.tensor([tok.type_id("short")] * b + [tok.type_id("long")] * b, device=images.device)

        image_tokens = model.encode_image(images).tokens  # (B, Q, Dt): one image pass for both types
        # Capacity starts small and doubles: compaction copies whole rows, so it then costs
        # what the rows hold, not the longest caption they might write.
        cache = model.init_cache(image_tokens, capacity=min(INITIAL_CAPACITY, int(limits.max())))
        cache = cache.select(torch.arange(n, device=images.device) % b)  # (2B rows): cross K/V shared per image

        out = np.zeros((n, int(limits.max())), dtype=np.int64)  # generated ids per original row
        lengths = np.zeros(n, dtype=np.int64)
        finished = np.zeros(n, dtype=bool)
        rows = np.arange(n)  # original row of each batch row (finished rows may linger until compaction)
        live = np.ones(n, dtype=bool)  # per batch row
        fed = start[:, None]  # (n, 1)
        eos = tok.eos_id
        for step in range(int(limits.max())):
            if cache.length == cache.capacity:
                cache = cache.grown(min(2 * cache.capacity, int(limits.max())))
            logits, cache = model.decode_step(fed, cache)  # (n, V)
            uniforms = torch.from_numpy(step_uniforms(seeds[rows], step))
            chosen = nucleus_choice(logits.float(), uniforms, top_p=s.top_p, temperature=s.temperature)  # (n,)
            self.stats.steps += 1
            self.stats.row_steps += len(rows)
            picked = chosen.cpu().numpy()
            ended = live & (picked == eos)
            writing = live & ~ended
            out[rows[writing], lengths[rows[writing]]] = picked[writing]
            lengths[rows[writing]] += 1
            finished[rows[ended]] = True
            live = writing & (lengths[rows] < limits[rows])  # a row at its limit is cut
            n_live = int(live.sum())
            if n_live == 0:
                break
            if n_live < self.compact_below * len(rows):
                index = np.flatnonzero(live)
                cache = cache.select(torch.from_numpy(index).to(images.device))
                rows, live, chosen = rows[index], live[index], chosen[torch.from_numpy(index).to(chosen.device)]
            fed = chosen[:, None]
        return [out[r, : lengths[r]].tolist() for r in range(n)], finished.tolist()

    def _caption_hf(self, images: torch.Tensor, keys: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        # transformers' generate keeps its own cache and loop: one call per caption type, each
        # encoding the images again, rows padded along until the batch ends.
        s, b = self.settings, len(keys)
        seeds = [key_seed(s.seed, k, t) for t in CAPTION_TYPES for k in keys]
        ids: list[list[int]] = []
        finished: list[bool] = []
        for caption_type, rows in (("short", slice(0, b)), ("long", slice(b, 2 * b))):
            out = self.model.generate_captions(
                images, caption_type, strategy="nucleus" if s.top_p > 0 else "greedy", top_p=s.top_p,
                temperature=s.temperature, seeds=seeds[rows] if s.top_p > 0 else None,
                max_new_tokens=s.max_tokens(caption_type),
            )  # fmt: skip
            ids += out.sequences
            finished += out.finished
            self.stats.steps += max((len(q) + 1 for q in out.sequences), default=0)
        return ids, finished
