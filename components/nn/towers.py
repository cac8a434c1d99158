"""The image and text towers shared by the captioner and the judge: a ViT over 64 x 64
images (patch or convolutional stem) and a causal text decoder with a CLS token whose final
state gives the text embedding. Both read their sizes from a TowerConfig.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from components.nn.config import TowerConfig
from components.nn.transformer import Block


class PatchStem(nn.Module):
    """ViT patchify: one (p x p, stride p) conv. (B, C, H, W) -> (B, g * g, D)."""

    def __init__(self, config: TowerConfig) -> None:
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

    def __init__(self, config: TowerConfig) -> None:
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


class ImageEncoder(nn.Module):
    """ViT without a class token: (B, C, H, W) in [-1, 1] -> (B, N, Dv), N = (H / p)^2."""

    def __init__(self, config: TowerConfig) -> None:
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

    def __init__(self, config: TowerConfig) -> None:
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
