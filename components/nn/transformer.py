"""Transformer blocks shared by the models that read images and captions (the captioner and
the judge), as open_clip's transformer.py: attention on fixed SDPA backends, pre-LN blocks
with optional cross-attention, an attentional pooler, GPT-2's initialisation.

Shapes: B batch, T tokens, D width, H heads, Dh = D / H, N context tokens.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

# ----------------------------------------------------------------------------- attention

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
