"""The autoencoder's training loss: reconstruction (L1 + MSE per pixel) plus a small KL term
(zero for AutoencoderTiny, which has no posterior)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from components.vae.model import Vae, adapter, decode


@dataclass
class VaeLoss:
    total: Tensor  # () reconstruction + kl_weight * kl
    reconstruction: Tensor  # () L1 + MSE, per pixel
    kl: Tensor  # () KL to N(0, I) per latent element; 0 for AutoencoderTiny


def vae_loss(vae: Vae, pixels: Tensor, *, kl_weight: float = 1e-6) -> VaeLoss:
    """pixels (B, 3, H, W) in [-1, 1]. L1 keeps flat colour regions sharp, MSE punishes the
    rare large error at an edge; the KL term only keeps the latent's scale in check."""
    latents, kl = adapter(vae).training_latents(pixels)  # a posterior draw for AutoencoderKL
    reconstruction = decode(vae, latents)
    rec = F.l1_loss(reconstruction, pixels) + F.mse_loss(reconstruction, pixels)
    return VaeLoss(rec + kl_weight * kl, rec, kl)
