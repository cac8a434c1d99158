"""The optimiser every stage uses: AdamW with decoupled weight decay on matrices only, and a
linear warm-up into a cosine that follows steps or wall-clock time, whichever is further along."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from components.training.settings import OptimizerSettings


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
