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
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from .config import CocaConfig
from .image_inputs import check_images

# ----------------------------------------------------------------------------- helpers

# Every model entry point runs attention on these SDPA backends, leaving out cuDNN's: it
# builds a new plan for every new key length (3.5 ms a call on an H200, which made cached
# decoding 10x slower) and its bf16 backward gave NaN losses within a few hundred steps.
ATTENTION_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
_F = TypeVar("_F", bound=Callable)


def attention_backends(method: _F) -> _F:
    @functools.wraps(method)
    def wrapped(*args, **kwargs):
        with sdpa_kernel(ATTENTION_BACKENDS):
            return method(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def attend(q: Tensor, k: Tensor, v: Tensor, **kwargs) -> Tensor:
    """F.scaled_dot_product_attention, run in fp32 when a CPU trains under bf16 autocast.

    PyTorch's CPU flash-attention backward is 7x slower in bf16 than in fp32 (2.3 s against
    0.32 s over five `small` training steps, batch 32, 100 tokens), which made bf16-mixed
    training slower than fp32 although its matrix products ran 2.2x faster on AMX. The
    forward pass alone (decoding) is as fast in bf16, so only a pass that builds a graph is
    upcast. q, k, v (B, H, T, Dh) -> (B, H, T, Dh) in q's dtype."""
    if q.device.type == "cpu" and q.dtype != torch.float32 and torch.is_grad_enabled():
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), **kwargs).to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, **kwargs)


def offset_causal_mask(n_new: int, n_keys: int, device: torch.device) -> Tensor:
    """(n_new, n_keys) bool, True where query i (at position n_keys - n_new + i) may see key j."""
    offset = n_keys - n_new
    rows = torch.arange(n_new, device=device)[:, None]
    cols = torch.arange(n_keys, device=device)[None, :]
    return cols <= rows + offset


def split_heads(x: Tensor, heads: int) -> Tensor:
    """(B, T, D) -> (B, H, T, D / H)."""
    b, t, d = x.shape
    return x.view(b, t, heads, d // heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, T, Dh) -> (B, T, H * Dh)."""
    b, h, t, dh = x.shape
    return x.transpose(1, 2).reshape(b, t, h * dh)


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


# ----------------------------------------------------------------------------- blocks


class MLP(nn.Module):
    def __init__(self, width: int, ratio: float, dropout: float) -> None:
        super().__init__()
        hidden = int(width * ratio)
        self.fc = nn.Linear(width, hidden)
        self.proj = nn.Linear(hidden, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        *,
        mask: Tensor | None = None,
        is_causal: bool = False,
        cache: tuple[Tensor, Tensor] | None = None,
        start: int = 0,
        positions: Tensor | None = None,
    ) -> Tensor:
        """x (B, T, D). With `cache` ((B, H, C, Dh) key and value buffers), this call's
        keys and values are written at [start, start + T) and attention covers [0, start + T).
        With `positions` (B,) too (T = 1, rows at their own positions), row b's key and
        value go to position positions[b], attention covers [0, start) and `mask` must hide
        each row's keys past its position."""
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(x).chunk(3, dim=-1))  # (B, H, T, Dh)
        if cache is not None and positions is not None:
            key_buffer, value_buffer = cache
            rows = torch.arange(x.shape[0], device=x.device)
            key_buffer[rows, :, positions] = k[:, :, 0]  # (B, H, Dh) into each row's own slot
            value_buffer[rows, :, positions] = v[:, :, 0]
            k, v = key_buffer[:, :, :start], value_buffer[:, :, :start]  # (B, H, start, Dh)
        elif cache is not None:
            key_buffer, value_buffer = cache
            end = start + x.shape[1]
            key_buffer[:, :, start:end] = k
            value_buffer[:, :, start:end] = v
            k, v = key_buffer[:, :, :end], value_buffer[:, :, :end]  # (B, H, end, Dh)
        y = attend(
            q, k, v, attn_mask=mask, is_causal=is_causal, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, T, Dh)
        return self.drop(self.proj(merge_heads(y)))


class CrossAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.proj = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)

    def project_kv(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """context (B, N, D) -> keys, values (B, H, N, Dh); computed once per image when decoding."""
        k, v = self.kv(context).chunk(2, dim=-1)
        return split_heads(k, self.heads), split_heads(v, self.heads)

    def forward(self, x: Tensor, k: Tensor, v: Tensor) -> Tensor:
        q = split_heads(self.q(x), self.heads)  # (B, H, T, Dh)
        y = attend(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.drop(self.proj(merge_heads(y)))  # (B, T, D)


class Block(nn.Module):
    """Pre-LN transformer block; with `cross`, cross-attention sits between self-attention and MLP."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float, *, cross: bool = False) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads, dropout)
        self.ln_cross = nn.LayerNorm(width) if cross else None
        self.cross_attn = CrossAttention(width, heads, dropout) if cross else None
        self.ln_mlp = nn.LayerNorm(width)
        self.mlp = MLP(width, mlp_ratio, dropout)

    def forward(
        self,
        x: Tensor,
        *,
        mask: Tensor | None = None,
        is_causal: bool = False,
        cache: tuple[Tensor, Tensor] | None = None,
        start: int = 0,
        cross_kv: tuple[Tensor, Tensor] | None = None,
        positions: Tensor | None = None,
    ) -> Tensor:
        x = x + self.attn(
            self.ln_attn(x), mask=mask, is_causal=is_causal, cache=cache, start=start, positions=positions
        )
        if self.cross_attn is not None and self.ln_cross is not None:  # both exist or neither (cross)
            if cross_kv is None:
                raise ValueError("a cross-attention block needs cross_kv (the image tokens' keys and values)")
            x = x + self.cross_attn(self.ln_cross(x), *cross_kv)
        return x + self.mlp(self.ln_mlp(x))


class PatchStem(nn.Module):
    """ViT patchify: one (p x p, stride p) conv. (B, C, H, W) -> (B, g * g, D)."""

    def __init__(self, config: CocaConfig) -> None:
        super().__init__()
        p = config.patch_size
        self.conv = nn.Conv2d(config.channels, config.vision_width, kernel_size=p, stride=p)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x).flatten(2).transpose(1, 2)


def stem_norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.GroupNorm(1, channels)


class ResidualConv(nn.Module):
    """x + GELU(norm(conv3x3(x))): a stride-1 conv that widens the receptive field by two
    steps of its stage's stride."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), stem_norm(norm, channels), nn.GELU())

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


class ConvStem(nn.Module):
    """log2(p) stages of a 3x3 stride-2 conv (norm, GELU) and stem_depth - 1 residual 3x3
    convs, then a 1x1 conv: (B, C, H, W) -> (B, g * g, D).

    `group` norm (one group) normalises each image on its own, so an image's tokens never
    depend on the rest of its batch. `batch` norm does in training (in eval mode it uses
    running statistics, so captions still do not depend on batching), and it is what lets
    the stem learn shapes quickly (a shapes-world object is a few percent of a plain
    background; why per-channel batch statistics help so much is not measured). Measured (experiments/shape_probe.py:
    which shapes an image holds, supervised, 400 steps of 32, held-out exact-set accuracy):
    group 0.42, batch with stem_depth 2 0.96; docs/results.md, "What the image tower can learn".
    """

    def __init__(self, config: CocaConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, c_out = config.channels, config.stem_channels
        for _ in range(int(math.log2(config.patch_size))):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), stem_norm(config.stem_norm, c_out), nn.GELU()]
            layers += [ResidualConv(c_out, config.stem_norm) for _ in range(config.stem_depth - 1)]
            c_in, c_out = c_out, c_out * 2
        layers.append(nn.Conv2d(c_in, config.vision_width, kernel_size=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten(2).transpose(1, 2)


class AttentionalPooler(nn.Module):
    """Learned queries cross-attend to the image tokens: (B, N, Dv) -> (B, n_queries, out_dim)."""

    def __init__(self, width: int, out_dim: int, n_queries: int, heads: int) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_queries, width) * 0.02)
        self.ln_q = nn.LayerNorm(width)
        self.ln_kv = nn.LayerNorm(width)
        self.attn = CrossAttention(width, heads, dropout=0.0)
        self.ln_out = nn.LayerNorm(width)
        self.proj = nn.Linear(width, out_dim)

    def forward(self, tokens: Tensor) -> Tensor:
        q = self.ln_q(self.queries).expand(tokens.shape[0], -1, -1)  # (B, Q, Dv)
        x = self.attn(q, *self.attn.project_kv(self.ln_kv(tokens)))  # (B, Q, Dv)
        return self.proj(self.ln_out(x))


class ImageEncoder(nn.Module):
    """ViT without a class token: (B, C, H, W) in [-1, 1] -> (B, N, Dv), N = (H / p)^2."""

    def __init__(self, config: CocaConfig) -> None:
        super().__init__()
        d = config.vision_width
        self.stem = ConvStem(config) if config.stem == "conv" else PatchStem(config)
        self.pos = nn.Parameter(torch.randn(config.n_image_tokens, d) * 0.01)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(d, config.vision_heads, config.mlp_ratio, config.dropout) for _ in range(config.vision_depth)
        )
        self.ln_post = nn.LayerNorm(d) if config.vision_post_norm else nn.Identity()

    def forward(self, pixels: Tensor) -> Tensor:
        x = self.drop(self.stem(pixels) + self.pos)  # (B, N, Dv)
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x)


class UnimodalDecoder(nn.Module):
    """Causal text decoder. Training inserts a CLS token right after each row's last real
    token, so plain causal attention lets it see exactly the caption: no attention mask is
    needed (masked SDPA is slower, and its CUDA backward has returned NaN gradients), and
    since the CLS embedding carries no position, a caption's text embedding is the same
    however much padding its batch adds.
    """

    def __init__(self, config: CocaConfig) -> None:
        super().__init__()
        d = config.text_width
        self.heads = config.text_heads
        self.token_emb = nn.Embedding(config.vocab_size, d)
        self.pos = nn.Parameter(torch.randn(config.context_length, d) * 0.01)
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(d, config.text_heads, config.mlp_ratio, config.dropout) for _ in range(config.text_depth)
        )
        self.ln_final = nn.LayerNorm(d)

    def embed(self, tokens: Tensor, start: int = 0) -> Tensor:
        """tokens (B, T) at positions [start, start + T) -> (B, T, Dt)."""
        return self.drop(self.token_emb(tokens) + self.pos[start : start + tokens.shape[1]])

    def embed_rows(self, tokens: Tensor, positions: Tensor) -> Tensor:
        """One token per row, each at its own position: tokens, positions (B,) -> (B, 1, Dt)."""
        return self.drop(self.token_emb(tokens) + self.pos[positions])[:, None]

    def forward(self, tokens: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """tokens (B, T) -> (text states (B, T, Dt), CLS state (B, Dt)).

        With `valid` (B, T) bool (right-padded), the CLS token runs too and its state is
        returned; with None the text runs alone (causal, so its states are the same) and
        the CLS state is None.
        """
        x = self.embed(tokens)  # (B, T, Dt)
        if valid is None:
            for block in self.blocks:
                x = block(x, is_causal=True)
            return self.ln_final(x), None
        b, t, d = x.shape
        lengths = valid.sum(dim=1, keepdim=True)  # (B, 1) real tokens per row
        slots = torch.arange(t + 1, device=tokens.device)[None, :]  # (1, T + 1)
        # Slot s holds text token s before the CLS, the CLS at s = length, token s - 1 after.
        source = torch.where(slots < lengths, slots, slots - 1).clamp(min=0)  # (B, T + 1)
        x = x.gather(1, source[..., None].expand(-1, -1, d))  # (B, T + 1, Dt)
        x = torch.where((slots == lengths)[..., None], self.cls.to(x.dtype), x)
        for block in self.blocks:
            x = block(x, is_causal=True)
        x = self.ln_final(x)
        cls = x.gather(1, lengths[..., None].expand(-1, 1, d))[:, 0]  # (B, Dt)
        text_slots = slots[:, :t] + (slots[:, :t] >= lengths)  # (B, T) each token's slot
        return x.gather(1, text_slots[..., None].expand(-1, -1, d)), cls


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


def gpt2_init(model: nn.Module, n_residual: int) -> None:
    """GPT-2 style: N(0, 0.02), with residual output projections scaled down by the number of
    residual additions so the stream's variance does not grow with depth; biases zero."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            std = 0.02 / math.sqrt(n_residual) if name.endswith(("attn.proj", "mlp.proj")) else 0.02
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)


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
