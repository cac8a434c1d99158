"""What the denoiser learns to predict, on which noise schedule, and how each timestep's loss is
weighted: the choices the issue asks to make by measurement (docs/results.md "The objective").

- `epsilon`: the noise, on the cosine schedule (Nichol & Dhariwal 2021), uniform weights: DDPM.
- `v_zero_snr`: v = sqrt(abar) * noise - sqrt(1 - abar) * x0 on the cosine schedule rescaled so
  that the last step is pure noise (abar_T = 0), sampled from "trailing" timesteps with CFG
  rescale (Lin et al. 2023, "Common diffusion noise schedules and sample steps are flawed"):
  without it the model never sees pure noise in training but starts from it at inference,
  which is why an epsilon model draws black and white backgrounds as mid-greys.
- `epsilon_min_snr`, `v_zero_snr_min_snr`: the same with Min-SNR-gamma weights (Hang et al.
  2023): each timestep's loss weighted by min(SNR, gamma) / SNR for epsilon and
  min(SNR, gamma) / (SNR + 1) for v, so the easy low-noise steps stop dominating.

The schedule is a diffusers `DDPMScheduler`, so training and every sampling scheduler share its
betas, and the exported pipeline's scheduler is built from the same config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
from torch import Tensor

PREDICTION_TYPES = ("epsilon", "v_prediction")


@dataclass(frozen=True)
class Objective:
    prediction_type: str = "epsilon"
    zero_terminal_snr: bool = False
    min_snr_gamma: float | None = None
    beta_schedule: str = "squaredcos_cap_v2"
    num_train_timesteps: int = 1000
    guidance_rescale: float = 0.0  # Lin et al.'s CFG rescale at sampling (0.7 with zero terminal SNR)

    def __post_init__(self) -> None:
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type {self.prediction_type!r} must be one of {PREDICTION_TYPES}")
        if self.zero_terminal_snr and self.prediction_type == "epsilon":
            # at abar = 0 the noisy latent is the noise: predicting it says nothing about the image
            raise ValueError("a zero-terminal-SNR schedule needs v_prediction: epsilon cannot be learnt at SNR 0")
        if self.min_snr_gamma is not None and self.min_snr_gamma <= 0:
            raise ValueError(f"min_snr_gamma must be > 0 or None, got {self.min_snr_gamma}")
        if not 0.0 <= self.guidance_rescale <= 1.0:
            raise ValueError(f"guidance_rescale must be in [0, 1], got {self.guidance_rescale}")

    def scheduler(self) -> DDPMScheduler:
        """The training schedule; `timestep_spacing` is what samplers built from its config use."""
        return DDPMScheduler(
            num_train_timesteps=self.num_train_timesteps,
            beta_schedule=cast(Any, self.beta_schedule),  # diffusers checks the name
            prediction_type=cast(Any, self.prediction_type),
            rescale_betas_zero_snr=self.zero_terminal_snr,
            # trailing: sampling starts at the last timestep, where a zero-SNR schedule is pure noise
            timestep_spacing="trailing" if self.zero_terminal_snr else "leading",
            steps_offset=1,  # Stable Diffusion's offset for leading spacing (trailing ignores it)
            clip_sample=False,
        )


OBJECTIVES: dict[str, Objective] = {
    "epsilon": Objective(),
    "v_zero_snr": Objective("v_prediction", zero_terminal_snr=True, guidance_rescale=0.7),
    "epsilon_min_snr": Objective(min_snr_gamma=5.0),
    "v_zero_snr_min_snr": Objective("v_prediction", zero_terminal_snr=True, min_snr_gamma=5.0, guidance_rescale=0.7),
}


def resolve_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; known: {sorted(OBJECTIVES)}")
    return OBJECTIVES[name]


def snr(alphas_cumprod: Tensor, timesteps: Tensor) -> Tensor:
    """Signal-to-noise ratio abar / (1 - abar) at each timestep: (B,)."""
    abar = alphas_cumprod.to(timesteps.device)[timesteps].float()
    return abar / (1.0 - abar)


def training_target(objective: Objective, alphas_cumprod: Tensor, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """What the U-Net should output for latents x0 noised by `noise` at timesteps t (B,)."""
    if objective.prediction_type == "epsilon":
        return noise
    abar = alphas_cumprod.to(x0.device)[t].float().view(-1, *([1] * (x0.ndim - 1)))
    return abar.sqrt() * noise - (1.0 - abar).sqrt() * x0


def loss_weights(objective: Objective, alphas_cumprod: Tensor, t: Tensor) -> Tensor:
    """Per-sample weights (B,) of the squared error: ones, or Min-SNR-gamma's."""
    if objective.min_snr_gamma is None:
        return torch.ones(t.shape, device=t.device)
    ratio = snr(alphas_cumprod, t)
    clipped = ratio.clamp(max=objective.min_snr_gamma)
    if objective.prediction_type == "epsilon":
        return clipped / ratio
    return clipped / (ratio + 1.0)  # v: min(SNR, gamma) / (SNR + 1), zero where SNR is zero


def diffusion_loss(
    objective: Objective, alphas_cumprod: Tensor, prediction: Tensor, x0: Tensor, noise: Tensor, t: Tensor
) -> Tensor:
    """The weighted mean squared error of `prediction` (B, C, H, W) against the target."""
    target = training_target(objective, alphas_cumprod, x0, noise, t)
    per_sample = (prediction.float() - target.float()).pow(2).mean(dim=tuple(range(1, x0.ndim)))
    return (loss_weights(objective, alphas_cumprod, t) * per_sample).mean()
