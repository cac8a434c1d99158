"""What differs between the two diffusers autoencoder classes, each behind one adapter, so
the model helpers (model.py) never ask which class they hold: model.adapter picks a vae's
adapter once, from its class.

AutoencoderKL encodes to a diagonal Gaussian posterior (`latent_dist`) and is trained with a
KL term to N(0, I); AutoencoderTiny (TAESD's design) encodes to latents directly and has no
KL term. Their configs also name the encoder's block widths differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, cast

from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.autoencoders.autoencoder_tiny import AutoencoderTiny, AutoencoderTinyOutput
from diffusers.models.modeling_outputs import AutoencoderKLOutput
from torch import Tensor


class VaeAdapter(Protocol):
    def downsampling_factor(self) -> int:
        """Pixels per latent cell along one side: 2 ** (number of encoder blocks - 1)."""
        ...

    def encode(self, pixels: Tensor, *, sample: bool) -> Tensor:
        """pixels (B, 3, H, W) in [-1, 1] -> unscaled latents (B, C, H / f, W / f)."""
        ...

    def training_latents(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """What a training step decodes, latents (B, C, H / f, W / f), and the KL term ()
        per latent element."""
        ...


@dataclass(frozen=True)
class KlAdapter:
    vae: AutoencoderKL

    def downsampling_factor(self) -> int:
        return 2 ** (len(self.vae.config["block_out_channels"]) - 1)

    def encode(self, pixels: Tensor, *, sample: bool) -> Tensor:
        """The posterior's mean unless `sample` (deterministic, so cached latents are reproducible)."""
        posterior = cast(AutoencoderKLOutput, self.vae.encode(pixels)).latent_dist
        return posterior.sample() if sample else posterior.mean

    def training_latents(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """A draw from the posterior, and its KL to N(0, I) averaged over the batch and divided
        by one image's latent size."""
        posterior = cast(AutoencoderKLOutput, self.vae.encode(pixels)).latent_dist
        latents = posterior.sample()
        return latents, posterior.kl().mean() / posterior.mean[0].numel()


@dataclass(frozen=True)
class TinyAdapter:
    vae: AutoencoderTiny

    def downsampling_factor(self) -> int:
        return 2 ** (len(self.vae.config["encoder_block_out_channels"]) - 1)

    def encode(self, pixels: Tensor, *, sample: bool) -> Tensor:
        """The encoder's output: there is no posterior to sample, so `sample` changes nothing."""
        return cast(AutoencoderTinyOutput, self.vae.encode(pixels)).latents

    def training_latents(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """The encoder's output and a KL term of 0 (pixels' dtype and device)."""
        return self.encode(pixels, sample=False), pixels.new_zeros(())
