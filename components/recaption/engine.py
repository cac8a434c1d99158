"""The recaptioning engine: a short and a long caption for every image of a batch.

What makes it fast, against open_clip CoCa's `generate` (one image, one caption type at a
time, the whole prefix recomputed at every step) and against a plain Hugging Face
`generate` call per caption type (one image pass per call, finished rows padded along
until the slowest row of the batch ends):

- each image is encoded once, and its short and long captions are decoded from that one
  encoding (images are encoded a window at a time, as their rows enter);
- every step runs one new token per row on the model's KV cache;
- continuous batching: `max_rows` captions decode at once, each row at its own position
  (CocaModel.decode_rows); a row stops at <eos> or at its type's token limit and the next
  waiting caption takes its slot at once, so the batch stays full instead of carrying
  finished rows until the slowest one ends (a plain `generate` call) or shrinking as rows
  finish. Once no caption waits, finished rows leave: the cache is compacted when the
  live share falls below `compact_below` (1.0 at every finish, 0.0 never). The cache
  starts small and doubles, so a compaction copies what the rows hold rather than the
  longest caption they might write. benchmarks/recaption.py measures this against
  batches sorted by their true caption lengths (the best any length sorter could do).

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

from components.captioner.model import CocaModel, DecodeCache
from components.captioner.hf_backend import HFCaptioner
from components.captioner.image_inputs import check_images
from components.recaption.keyed_random import key_seed, key_seeds, step_uniforms
from components.captioner.decoding import nucleus_choice
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


class _EncodingWindow:
    """The images of one engine call, encoded `size` at a time as their rows are admitted,
    so memory holds one window's cross-attention keys and values, not the whole call's."""

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
                tokens = self.model.encode_image(self.images[first : first + self.size]).tokens  # (W, Q, Dt)
                kv = self.model.multimodal.cross_kv(tokens)
                self.keys, self.values = torch.stack([k for k, _ in kv]), torch.stack([v for _, v in kv])
                self.start = first
            local = torch.from_numpy(image_index[image_index // self.size == i] - first).to(self.keys.device)
            keys.append(self.keys[:, local])
            values.append(self.values[:, local])
        return torch.cat(keys, dim=1), torch.cat(values, dim=1)


class CaptionEngine:
    """Writes CaptionPairs for batches of images with a CocaModel or an HFCaptioner."""

    def __init__(
        self,
        model: CocaModel | HFCaptioner,
        tokenizer: CaptionTokenizer,
        settings: SamplingSettings = SamplingSettings(),
        *,
        max_rows: int | None = None,
        compact_below: float = 0.75,
    ) -> None:
        if not 0.0 <= compact_below <= 1.0:
            raise ValueError(f"compact_below={compact_below!r} must be in [0, 1]")
        if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1):
            raise ValueError(f"max_rows={max_rows!r} must be a positive int or None")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.settings = settings.for_context(model.config.context_length)  # limits resolved
        self.max_rows = max_rows
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
    def caption(self, images: torch.Tensor, keys: Sequence[str], *, max_rows: int | None = None) -> list[CaptionPair]:
        """images (B, 3, H, W) float in [0, 1], one key per image -> one CaptionPair each.
        max_rows: captions decoded at once (default the engine's; None: all 2B), the
        CoCa path's batch; the HF path decodes each caption type of all B images at once."""
        if len(keys) != images.shape[0]:
            raise ValueError(f"{len(keys)} keys for {images.shape[0]} images")
        if not len(keys):
            return []
        images = images.to(self.device)
        if isinstance(self.model, HFCaptioner):
            ids, finished = [], []
            step = max(1, (max_rows or self.max_rows or 2 * len(keys)) // 2)  # images per generate call
            for first in range(0, len(keys), step):
                chunk_ids, chunk_finished = self._caption_hf(images[first : first + step], keys[first : first + step])
                ids += chunk_ids
                finished += chunk_finished
        else:
            check_images(images, channels=self.model.config.channels, size=self.model.config.image_size)
            ids, finished = self._caption_coca(images, keys, max_rows or self.max_rows)
        b = len(keys)
        self.stats.images += b
        self.stats.tokens += sum(len(row) for row in ids) + sum(finished)
        return [
            CaptionPair(
                short=self.tokenizer.decode(ids[2 * i]), long=self.tokenizer.decode(ids[2 * i + 1]),
                short_ids=ids[2 * i], long_ids=ids[2 * i + 1], short_finished=finished[2 * i],
                long_finished=finished[2 * i + 1],
            )  # fmt: skip
            for i in range(b)
        ]

    # Row 2i is image i's short caption, row 2i + 1 its long one: rows are admitted in this
    # order, so images are encoded in order, a window at a time.

    def _caption_coca(self, images: torch.Tensor, keys: Sequence[str],
                      max_rows: int | None) -> tuple[list[list[int]], list[bool]]:
        model, s, tok = self.model, self.settings, self.tokenizer
        b, n = len(keys), 2 * len(keys)
        device = images.device
        limits = np.tile([s.max_short_tokens, s.max_long_tokens], b)  # (n,)
        seeds = np.stack([key_seeds(s.seed, keys, t) for t in CAPTION_TYPES], axis=1).reshape(n)  # (n,) uint64
        start_ids = torch.tensor([tok.type_id("short"), tok.type_id("long")], device=device).repeat(b)  # (n,)
        slots = min(n, max_rows or n)  # rows decoded at once
        window = _EncodingWindow(model, images, size=max(1, slots // 2))
        most = int(limits.max()) + 1  # positions a row can reach, type token included

        # Fill every slot, then decode one token per live slot per step.
        slot_row = np.arange(slots)  # the row each slot holds
        cross_keys, cross_values = window.cross_kv(slot_row // 2)  # (M, P, H, Q, Dh)
        c = model.config
        shape = (c.text_depth + c.multimodal_depth, slots, c.text_heads, min(INITIAL_CAPACITY, most),
                 c.text_width // c.text_heads)  # (L, P, H, C, Dh): capacity starts small and doubles
        # Zeros: a refilled slot masks keys its earlier caption never wrote; in uninitialised
        # memory they could be NaN, and 0 * NaN = NaN in the attention sum.
        cache = DecodeCache(keys=cross_keys.new_zeros(shape), values=cross_keys.new_zeros(shape),
                            cross_keys=cross_keys, cross_values=cross_values, length=0)
        next_row = slots
        fed = start_ids[:slots].clone()  # (P,) the token each slot runs next
        out = np.zeros((n, int(limits.max())), dtype=np.int64)  # generated ids per row
        lengths = np.zeros(n, dtype=np.int64)  # = the position of the token a live row runs next
        finished = np.zeros(n, dtype=bool)
        live = np.ones(slots, dtype=bool)
        eos = tok.eos_id
        while live.any():
            positions = np.where(live, lengths[slot_row], 0)  # (P,) idle slots rewrite position 0
            span = int(positions.max()) + 1
            if span > cache.capacity:
                cache = cache.grown(min(max(2 * cache.capacity, span), most))
            logits, cache = model.decode_rows(fed, torch.from_numpy(positions).to(device), cache)  # (P, V)
            uniforms = torch.from_numpy(step_uniforms(seeds[slot_row], positions))
            chosen = nucleus_choice(logits.float(), uniforms, top_p=s.top_p, temperature=s.temperature)  # (P,)
            self.stats.steps += 1
            self.stats.row_steps += len(slot_row)
            picked = chosen.cpu().numpy()
            ended = live & (picked == eos)
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
                cache.cross_keys[:, index], cache.cross_values[:, index] = window.cross_kv(admitted // 2)
                fed = fed.index_copy(0, index, start_ids[torch.from_numpy(admitted).to(device)])
            elif next_row == n and live.sum() < self.compact_below * len(slot_row):
                keep = np.flatnonzero(live)  # the tail: no row waits, drop the finished ones
                index = torch.from_numpy(keep).to(device)
                cache = cache.select(index)
                slot_row, live, fed = slot_row[keep], live[keep], fed[index]
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
        order = [r for i in range(b) for r in (i, b + i)]  # rows 2i, 2i + 1: image i's short, long
        return [ids[r] for r in order], [finished[r] for r in order]
