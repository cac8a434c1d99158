"""The optimiser every stage uses: AdamW with decoupled weight decay on matrices only, and a
linear warm-up into a cosine that follows steps or wall-clock time, whichever is further along."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class OptimizerSettings:
    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05  # the cosine decays to min_lr_ratio * lr at the run's last step

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"lr ({self.lr}) must be > 0 and weight_decay ({self.weight_decay}) >= 0")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be >= 0")

    def lr_factor(self, step: int, total_steps: int, time_fraction: float = 0.0) -> float:
        """Linear warm-up, then cosine to min_lr_ratio: the multiplier of lr at `step` of `total_steps`.

        A run with a wall-clock budget passes the share of it spent, `time_fraction`; the
        cosine follows whichever of steps and time is further along, so a run stopped by
        its budget has still annealed (a step-only schedule would stop at a high lr)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, total_steps - self.warmup_steps))
        progress = max(progress, min(1.0, time_fraction))
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def adamw_with_schedule(
    model: nn.Module, settings: OptimizerSettings, total_steps: int, time_fraction: Callable[[], float]
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over `model` and its per-step warm-up-cosine schedule. Norms, biases, embeddings
    and scalars (a temperature) are not decayed (as in CLIP/GPT); embeddings are found by
    module type too, since backends name them differently (wte, wpe)."""
    if total_steps < 1:
        raise ValueError(f"total_steps ({total_steps}) must be >= 1")
    embeddings = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        plain = parameter.ndim >= 2 and "embed" not in name and id(parameter) not in embeddings
        (decay if plain else no_decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr,
        betas=settings.betas,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: settings.lr_factor(step, total_steps, time_fraction())
    )
    return optimizer, scheduler
