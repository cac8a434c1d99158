"""CoCa, the contrastive captioner (Yu et al. 2022), sized for 64 x 64 images.

Image tower: a ViT (patch or conv stem, learned positions, pre-LN blocks) whose tokens go
through two attentional poolers: one query gives the contrastive image embedding, N
queries give the image tokens the multimodal decoder cross-attends to.
Text towers: a causal unimodal decoder with a learned CLS token placed right after each
caption, whose final state gives the contrastive text embedding; then a multimodal decoder
(causal self-attention, cross-attention to the image tokens, MLP) that writes the caption.

Images enter in [0, 1] (B, 3, H, W) float; the model maps them to [-1, 1] itself, so a
checkpoint carries no separate preprocessing. Captions are right-padded rows
`[type token] text... <eos> <pad>...`; logits[:, t] scores tokens[:, t + 1].

Incremental decoding keeps every self-attention layer's keys and values in a preallocated
DecodeCache (and the cross-attention keys and values, computed once per image), so a
decoding step runs the new token only instead of the whole prefix.

The towers and blocks it shares with the judge live in components/nn/.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.captioner.config import CocaConfig
from components.captioner.image_inputs import check_images
from components.nn.towers import ImageEncoder, UnimodalDecoder
from components.nn.transformer import (
    AttentionalPooler,
    Block,
    CrossAttention,
    attention_backends,
    gpt2_init,
    offset_causal_mask,
)

# ----------------------------------------------------------------------------- outputs and cache


@dataclass
class ImageEncoding:
    embeds: Tensor  # (B, E) unit-norm contrastive image embedding
    tokens: Tensor  # (B, Q, Dt) pooled image tokens for the multimodal decoder


@dataclass
class CocaOutput:
    image_embeds: Tensor  # (B, E) unit norm
    text_embeds: Tensor  # (B, E) unit norm
    logits: Tensor  # (B, T, V); logits[:, t] scores tokens[:, t + 1]
    logit_scale: Tensor  # () exp of the learned temperature, clamped at config.max_logit_scale
    word_logits: Tensor | None = None  # (B, V) the word head's, max over image tokens; None without one


@dataclass(frozen=True)
class DecodeCache:
    """Keys and values of every decoder layer for rows decoded in lockstep.

    keys, values: (L, B, H, C, Dh) self-attention of the unimodal then the multimodal
    layers, filled for positions [0, length) of capacity C. cross_keys, cross_values:
    (M, B, H, Q, Dh) cross-attention to the image tokens, fixed once computed.
    decode_step writes the buffers in place and returns a cache with the new length: keep
    using the returned one.
    """

    keys: Tensor
    values: Tensor
    cross_keys: Tensor
    cross_values: Tensor
    length: int

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    @property
    def capacity(self) -> int:
        return self.keys.shape[3]

    def select(self, index: Tensor | Sequence[int]) -> DecodeCache:
        """The cache of rows `index` (B',), in that order: drop finished rows, reorder beams."""
        index = torch.as_tensor(index, dtype=torch.long, device=self.keys.device)
        if index.ndim != 1:
            raise ValueError(f"cache.select needs a 1-D row index, got shape {tuple(index.shape)}")
        return replace(
            self,
            keys=self.keys.index_select(1, index),
            values=self.values.index_select(1, index),
            cross_keys=self.cross_keys.index_select(1, index),
            cross_values=self.cross_values.index_select(1, index),
        )

    def refill(self, index: Tensor, cross_keys: Tensor, cross_values: Tensor) -> None:
        """Rows `index` (R,) take new images: their cross-attention keys and values (M, R, H,
        Q, Dh) are written in place; the self-attention keys they held are masked by
        position (decode_rows) until overwritten."""
        self.cross_keys[:, index] = cross_keys
        self.cross_values[:, index] = cross_values

    def grown(self, capacity: int) -> DecodeCache:
        """The same cache with room for `capacity` positions. Decoders that drop rows start
        small and double: select copies whole rows, so its cost follows the capacity."""
        if capacity < self.capacity:
            raise ValueError(f"capacity {capacity} is below the current {self.capacity}")
        shape = (*self.keys.shape[:3], capacity, self.keys.shape[4])
        # Zeros, not empty: continuous batching masks positions a slot never wrote, and a masked
        # NaN still poisons the attention sum (0 * NaN = NaN).
        keys, values = self.keys.new_zeros(shape), self.values.new_zeros(shape)  # (L, B, H, C', Dh)
        keys[:, :, :, : self.length] = self.keys[:, :, :, : self.length]
        values[:, :, :, : self.length] = self.values[:, :, :, : self.length]
        return replace(self, keys=keys, values=values)


# ----------------------------------------------------------------------------- decoder


class MultimodalDecoder(nn.Module):
    """Causal self-attention + cross-attention to the image tokens: (B, T, Dt) -> logits (B, T, V)."""

    def __init__(self, config: CocaConfig) -> None:
        super().__init__()
        d = config.text_width
        self.blocks = nn.ModuleList(
            Block(d, config.text_heads, config.mlp_ratio, config.dropout, cross=True)
            for _ in range(config.multimodal_depth)
        )
        self.ln_final = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.vocab_size, bias=False)

    def cross_kv(self, image_tokens: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Each layer's cross-attention keys and values (B, H, Q, Dh) of the image tokens (B, Q, Dt)."""
        # Every multimodal block is built with cross=True, so its cross_attn is a CrossAttention.
        return [cast(CrossAttention, cast(Block, block).cross_attn).project_kv(image_tokens) for block in self.blocks]

    def stacked_cross_kv(self, image_tokens: Tensor) -> tuple[Tensor, Tensor]:
        """cross_kv stacked over layers: keys, values (M, B, H, Q, Dh), as DecodeCache holds them."""
        kv = self.cross_kv(image_tokens)
        return torch.stack([k for k, _ in kv]), torch.stack([v for _, v in kv])

    def forward(self, x: Tensor, cross_kv: list[tuple[Tensor, Tensor]]) -> Tensor:
        for block, kv in zip(self.blocks, cross_kv, strict=True):
            x = block(x, is_causal=True, cross_kv=kv)
        return self.head(self.ln_final(x))


# ----------------------------------------------------------------------------- model


class CocaModel(nn.Module):
    # Trains fast under bf16 autocast on a CPU: attend() runs a training pass's attention in
    # fp32 there (training.precision.resolve_precision reads it through Captioner.cpu_bf16_ready).
    cpu_bf16_ready = True

    def __init__(self, config: CocaConfig) -> None:
        super().__init__()
        self.config = config
        self.visual = ImageEncoder(config)
        self.contrastive_pooler = AttentionalPooler(config.vision_width, config.embed_dim, 1, config.vision_heads)
        self.caption_pooler = (
            AttentionalPooler(config.vision_width, config.text_width, config.n_caption_queries, config.vision_heads)
            if config.caption_tokens == "pooled"
            else nn.Linear(config.vision_width, config.text_width)  # (B, N, Dv) -> (B, N, Dt)
        )
        self.text = UnimodalDecoder(config)
        self.text_proj = nn.Linear(config.text_width, config.embed_dim, bias=False)
        self.multimodal = MultimodalDecoder(config)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.init_logit_scale)))
        # Which words of the vocabulary the caption uses, scored per image token: training
        # only (CocaLoss.word_weight), a direct signal that teaches the image tower what to see.
        self.word_head = nn.Linear(config.vision_width, config.vocab_size) if config.word_head else None
        self._init_weights()

    def _init_weights(self) -> None:
        gpt2_init(self, n_residual=2 * (self.config.text_depth + self.config.multimodal_depth))
        if self.word_head is not None:  # a prior of 1 / V per word: the binary losses start small
            nn.init.constant_(self.word_head.bias, -math.log(self.config.vocab_size))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # Boundary checks.
    def _check_images(self, images: Tensor) -> None:
        check_images(images, channels=self.config.channels, size=self.config.image_size)

    def _check_tokens(self, tokens: Tensor, batch: int | None = None) -> None:
        if not isinstance(tokens, Tensor) or tokens.ndim != 2 or tokens.dtype not in (torch.long, torch.int):
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"tokens must be a (B, T) integer tensor, got {shape} {getattr(tokens, 'dtype', '')}")
        b, t = tokens.shape
        if batch is not None and b != batch:
            raise ValueError(f"tokens has {b} rows but there are {batch} images")
        if not 1 <= t <= self.config.context_length:
            raise ValueError(f"tokens has length {t}; it must be in [1, context_length={self.config.context_length}]")
        lo, hi = torch.aminmax(tokens)
        if lo < 0 or hi >= self.config.vocab_size:
            raise ValueError(
                f"token ids must lie in [0, vocab_size={self.config.vocab_size}), got [{lo.item()}, {hi.item()}]"
            )

    def _valid_mask(self, tokens: Tensor, attention_mask: Tensor | None) -> Tensor:
        """(B, T) bool of real tokens; rows must be right-padded and hold at least one token."""
        if attention_mask is None:
            valid = tokens != self.config.pad_token_id
        else:
            if attention_mask.shape != tokens.shape:
                raise ValueError(
                    f"attention_mask has shape {tuple(attention_mask.shape)}, tokens {tuple(tokens.shape)}"
                )
            valid = attention_mask.bool()
        if not valid[:, 0].all():
            row = int((~valid[:, 0]).nonzero()[0])
            raise ValueError(f"row {row} starts with padding; captions must start with their type token")
        gaps = valid[:, 1:] & ~valid[:, :-1]  # a real token after a pad: left or inner padding
        if gaps.any():
            row = int(gaps.any(dim=1).nonzero()[0])
            raise ValueError(f"row {row} has a real token after padding; rows must be right-padded")
        return valid

    # Towers.
    @attention_backends
    def encode_image(self, images: Tensor) -> ImageEncoding:
        """images (B, C, H, W) float in [0, 1] -> contrastive embedding and caption tokens."""
        return self._encode_image(images)[0]

    def _encode_image(self, images: Tensor) -> tuple[ImageEncoding, Tensor]:
        """The encoding and the image tower's tokens (B, N, Dv) it came from."""
        self._check_images(images)
        x = self.visual(images * 2.0 - 1.0)  # (B, N, Dv)
        embeds = self.contrastive_pooler(x).squeeze(1)  # (B, E)
        return ImageEncoding(embeds=F.normalize(embeds, dim=-1), tokens=self.caption_pooler(x)), x

    @attention_backends
    def encode_text(self, tokens: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """tokens (B, T) right-padded -> unit-norm text embedding (B, E)."""
        self._check_tokens(tokens)
        _, cls = self.text(tokens, self._valid_mask(tokens, attention_mask))
        return F.normalize(self.text_proj(cls), dim=-1)

    @attention_backends
    def caption_logits(self, image_tokens: Tensor, tokens: Tensor) -> Tensor:
        """Next-token logits (B, T, V) of the whole prefix, no cache (the reference path)."""
        self._check_tokens(tokens, image_tokens.shape[0])
        states, _ = self.text(tokens, None)  # (B, T, Dt)
        return self.multimodal(states, self.multimodal.cross_kv(image_tokens))

    @attention_backends
    def forward(self, images: Tensor, tokens: Tensor, attention_mask: Tensor | None = None) -> CocaOutput:
        """images (B, C, H, W) in [0, 1]; tokens (B, T) right-padded captions; attention_mask
        (B, T), 1 on real tokens, defaults to tokens != pad_token_id."""
        image, visual = self._encode_image(images)
        self._check_tokens(tokens, images.shape[0])
        states, cls = self.text(tokens, self._valid_mask(tokens, attention_mask))  # (B, T, Dt), (B, Dt)
        logits = self.multimodal(states, self.multimodal.cross_kv(image.tokens))  # (B, T, V)
        return CocaOutput(
            image_embeds=image.embeds,
            text_embeds=F.normalize(self.text_proj(cls), dim=-1),
            logits=logits,
            logit_scale=self.logit_scale.exp().clamp(max=self.config.max_logit_scale),
            # A word is shown when any one image token shows it (multiple-instance learning).
            word_logits=None if self.word_head is None else self.word_head(visual).amax(dim=1),  # (B, V)
        )

    # Incremental decoding.
    @attention_backends
    def image_context(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """What the decoder needs of images (B, C, H, W) in [0, 1]: each multimodal layer's
        cross-attention keys and values, stacked (M, B, H, Q, Dh)."""
        return self.multimodal.stacked_cross_kv(self._encode_image(images)[0].tokens)

    def empty_cache(self, cross_keys: Tensor, cross_values: Tensor, capacity: int | None = None) -> DecodeCache:
        """A cache for the rows whose image context is cross_keys, cross_values (M, B, H, Q,
        Dh) (image_context), holding up to `capacity` positions (default context_length)."""
        c = self.config
        capacity = c.context_length if capacity is None else capacity
        if not 1 <= capacity <= c.context_length:
            raise ValueError(f"capacity={capacity} must be in [1, context_length={c.context_length}]")
        b, h = cross_keys.shape[1], c.text_heads
        shape = (c.text_depth + c.multimodal_depth, b, h, capacity, c.text_width // h)
        return DecodeCache(
            keys=cross_keys.new_zeros(shape),  # zeros: decode_rows masks positions a row never wrote,
            values=cross_keys.new_zeros(shape),  # and uninitialised memory there could hold NaN
            cross_keys=cross_keys,
            cross_values=cross_values,
            length=0,
        )

    def init_cache(self, image_tokens: Tensor, capacity: int | None = None) -> DecodeCache:
        """An empty cache for image_tokens (B, Q, Dt) holding up to `capacity` positions
        (default context_length); the cross-attention keys and values are computed here."""
        c = self.config
        expected = (c.n_caption_tokens, c.text_width)
        if image_tokens.ndim != 3 or tuple(image_tokens.shape[1:]) != expected:
            raise ValueError(f"image_tokens must be (B, {expected[0]}, {expected[1]}), got {tuple(image_tokens.shape)}")
        return self.empty_cache(*self.multimodal.stacked_cross_kv(image_tokens), capacity)

    @attention_backends
    def decode_step(self, tokens_new: Tensor, cache: DecodeCache) -> tuple[Tensor, DecodeCache]:
        """Run tokens_new (B, S) at positions [cache.length, cache.length + S); return the
        logits (B, V) of the last new position and the cache advanced by S."""
        if tokens_new.ndim != 2 or tokens_new.shape[0] != cache.batch_size:
            raise ValueError(f"tokens_new must be ({cache.batch_size}, S), got {tuple(tokens_new.shape)}")
        start, s = cache.length, tokens_new.shape[1]
        end = start + s
        if end > cache.capacity:
            raise ValueError(f"decoding to position {end} overflows the cache capacity {cache.capacity}")
        # One new token may see every cached key; several see the prefix and each other causally
        # (plain is_causal when the cache is empty, else a mask offset by start).
        is_causal = s > 1 and start == 0
        mask = offset_causal_mask(s, end, tokens_new.device) if s > 1 and start > 0 else None
        x = self.text.embed(tokens_new, start)  # (B, S, Dt)
        depth = self.config.text_depth
        for i, block in enumerate(self.text.blocks):
            x = block(x, mask=mask, is_causal=is_causal, cache=(cache.keys[i], cache.values[i]), start=start)
        x = self.text.ln_final(x)
        for j, block in enumerate(self.multimodal.blocks):
            x = block(
                x,
                mask=mask,
                is_causal=is_causal,
                cache=(cache.keys[depth + j], cache.values[depth + j]),
                start=start,
                cross_kv=(cache.cross_keys[j], cache.cross_values[j]),
            )
        logits = self.multimodal.head(self.multimodal.ln_final(x[:, -1]))  # (B, V)
        return logits, replace(cache, length=end)

    @attention_backends
    def decode_rows(self, tokens: Tensor, positions: Tensor, cache: DecodeCache) -> tuple[Tensor, DecodeCache]:
        """One token per row, each row at its own position: continuous batching, where a
        finished row's slot takes a new caption that starts at position 0 beside rows deep
        into theirs. tokens, positions (B,) long; row b's keys and values are written at
        positions[b] and it attends to its own [0, positions[b]] (keys past it, left by the
        slot's earlier caption, are masked). Returns logits (B, V) and the cache whose length
        is the span in use, max(positions) + 1."""
        if tokens.shape != (cache.batch_size,) or positions.shape != tokens.shape:
            raise ValueError(
                f"tokens and positions must be ({cache.batch_size},), got {tuple(tokens.shape)} and "
                f"{tuple(positions.shape)}"
            )
        span = int(positions.max()) + 1
        if span > cache.capacity or int(positions.min()) < 0:
            raise ValueError(f"positions must lie in [0, capacity={cache.capacity}), got up to {span - 1}")
        keys = torch.arange(span, device=tokens.device)
        mask = (keys[None, :] <= positions[:, None])[:, None, None, :]  # (B, 1, 1, span)
        x = self.text.embed_rows(tokens, positions)  # (B, 1, Dt)
        depth = self.config.text_depth
        for i, block in enumerate(self.text.blocks):
            x = block(x, mask=mask, cache=(cache.keys[i], cache.values[i]), start=span, positions=positions)
        x = self.text.ln_final(x)
        for j, block in enumerate(self.multimodal.blocks):
            x = block(
                x,
                mask=mask,
                cache=(cache.keys[depth + j], cache.values[depth + j]),
                start=span,
                positions=positions,
                cross_kv=(cache.cross_keys[j], cache.cross_values[j]),
            )
        logits = self.multimodal.head(self.multimodal.ln_final(x[:, -1]))  # (B, V)
        return logits, replace(cache, length=span)
