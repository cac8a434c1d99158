"""The generator's autoencoder: 64 x 64 RGB to a small latent and back, as latent diffusion
has it (Rombach et al. 2022). A diffusers `AutoencoderKL`, or `AutoencoderTiny` (TAESD's
design: no attention, no KL term), which the Stable Diffusion pipelines accept in its place.
What differs between the two (encoding, the KL term, config names) sits behind one adapter
per class (adapters.py), so these helpers and their callers never branch on the class.

Presets are data (`presets/vae_<name>.json`: the class and its diffusers config), named by
class and downsampling factor: `kl_f4` maps 64 x 64 x 3 to 16 x 16 x 4, `kl_f2` to
32 x 32 x 4. Pixels are in [-1, 1] throughout, as diffusers' pipelines expect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.autoencoders.autoencoder_tiny import AutoencoderTiny
from diffusers.models.autoencoders.vae import DecoderOutput
from torch import Tensor

from components.vae.adapters import KlAdapter, TinyAdapter, VaeAdapter
from components.vae.config import preset_spec

Vae = AutoencoderKL | AutoencoderTiny

# Each class's adapter (adapters.py): the one place the two classes' differences are chosen.
ADAPTERS: dict[type[Vae], Callable[[Any], VaeAdapter]] = {AutoencoderKL: KlAdapter, AutoencoderTiny: TinyAdapter}
# By class name, as presets and saved directories' config.json (`_class_name`) give it.
VAE_CLASSES: dict[str, type[Vae]] = {cls.__name__: cls for cls in ADAPTERS}


def adapter(vae: Vae) -> VaeAdapter:
    """`vae`'s adapter, by the first of its classes (a subclass included) that has one."""
    for cls in type(vae).__mro__:
        if cls in ADAPTERS:
            return ADAPTERS[cls](vae)
    raise TypeError(f"no adapter for {type(vae).__name__}; known classes: {sorted(VAE_CLASSES)}")


def build_vae(name: str) -> Vae:
    """A new, untrained autoencoder of preset `name`."""
    spec = preset_spec(name)
    return VAE_CLASSES[spec["class"]](**spec["config"])


def downsampling_factor(vae: Vae) -> int:
    """Pixels per latent cell along one side: 2 ** (number of blocks - 1)."""
    return adapter(vae).downsampling_factor()


def to_pixels(images: np.ndarray) -> Tensor:
    """uint8 images (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1], the range diffusers'
    autoencoders take. A view's strides: a batch comes out channels-last in memory."""
    return torch.from_numpy(images).movedim(-1, -3).float() / 127.5 - 1


def encode(vae: Vae, pixels: Tensor, *, sample: bool = False) -> Tensor:
    """pixels (B, 3, H, W) in [-1, 1] -> unscaled latents (B, C, H / f, W / f); the KL
    posterior's mean unless `sample` (deterministic, so cached latents are reproducible)."""
    return adapter(vae).encode(pixels, sample=sample)


def decode(vae: Vae, latents: Tensor) -> Tensor:
    """Unscaled latents (B, C, h, w) -> pixels (B, 3, h * f, w * f), about [-1, 1]."""
    return cast(DecoderOutput, vae.decode(cast(torch.FloatTensor, latents))).sample


@torch.no_grad()
def latent_scaling_factor(vae: Vae, pixels: Tensor, batch_size: int = 64) -> float:
    """1 / std of the latents of `pixels`, so scaled latents have unit variance (the
    `scaling_factor` of Stable Diffusion's VAE config, measured the same way)."""
    was_training = vae.training
    vae.eval()
    latents = torch.cat([encode(vae, pixels[i : i + batch_size]) for i in range(0, len(pixels), batch_size)])
    vae.train(was_training)
    return float(1.0 / latents.float().std())
