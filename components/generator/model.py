"""The generator's denoiser: a diffusers `UNet2DConditionModel` that cross-attends to a frozen
text encoder's token embeddings, as in latent diffusion (Rombach et al. 2022) and DALL-E 3,
which changed only what the captions say, not this network.

Presets are data (`presets/unet_<name>.json`: the U-Net's architecture); the latent size and
channels come from the VAE and the cross-attention width from the text encoder, so one preset
fits any of them. Attention sits only where the feature map is 16 x 16 or smaller, except in
`tiny_attn32`, which attends at every level (the two-object study's candidate).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

PRESET_DIR = Path(__file__).parent / "presets"
UNET_PRESETS: tuple[str, ...] = tuple(sorted(p.stem.removeprefix("unet_") for p in PRESET_DIR.glob("unet_*.json")))


def unet_preset(name: str) -> dict[str, Any]:
    """The preset's UNet2DConditionModel arguments (its `_comment` left out)."""
    path = PRESET_DIR / f"unet_{name}.json"
    if not path.is_file():
        raise ValueError(f"unknown U-Net preset {name!r}; known presets: {UNET_PRESETS}")
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def build_unet(name: str, *, sample_size: int, latent_channels: int, cross_attention_dim: int) -> UNet2DConditionModel:
    """A new, untrained U-Net of preset `name` for latents (latent_channels, sample_size,
    sample_size) and a context of width cross_attention_dim."""
    config = unet_preset(name)
    downsamplings = len(config["block_out_channels"]) - 1
    if sample_size % 2**downsamplings:
        raise ValueError(f"latent size {sample_size} is not divisible by 2**{downsamplings} (preset {name!r})")
    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=latent_channels,
        out_channels=latent_channels,
        cross_attention_dim=cross_attention_dim,
        **config,
    )


def check_context_width(unet: UNet2DConditionModel, width: int, what: str) -> None:
    """A text encoder whose hidden size is not the U-Net's cross-attention width cannot condition it."""
    expected = unet.config["cross_attention_dim"]
    if width != expected:
        raise ValueError(f"{what} gives {width}-wide token embeddings but the U-Net cross-attends to width {expected}")


def parameter_count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())
