"""How fast this machine computes, as one number: the seconds a fixed fp32 workload takes (a
small conv stem and an MLP, forward and backward, on every core torch uses), the best of a
few repeats. The main job compares it with the same workload on the machine its budgets were
measured on (recap_dagster/job_budget.py), so the quick budgets follow the machine.

fp32 on purpose: a CPU without AMX trains everything in fp32, and that is the CPU whose slower
steps make the unbudgeted work (recaptioning, filtering, caching, judging) run long.
"""

from __future__ import annotations

import time

import torch
from torch import nn

PROBE_STEPS = 4  # forward and backward passes per repeat, after one warm-up pass


def _workload() -> tuple[nn.Module, torch.Tensor]:
    """The captioner's conv stem and a transformer-sized MLP on a batch of 32 64x64 images."""
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=2, padding=1),  # (32, 32, 32, 32)
        nn.GELU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1),  # (32, 64, 16, 16)
        nn.GELU(),
        nn.Flatten(2),  # (32, 64, 256)
        nn.Linear(256, 768),  # (32, 64, 768)
        nn.GELU(),
        nn.Linear(768, 256),
    )
    images = torch.rand(32, 3, 64, 64, generator=generator)
    return model, images


def probe_seconds(repeats: int = 5) -> float:
    """The best of `repeats` timings of PROBE_STEPS forward and backward passes (under a
    second each on a 2-core machine: 0.2 s on the reference)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    model, images = _workload()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(images).square().mean().backward()

    step()  # warm-up: allocations and kernel selection
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(PROBE_STEPS):
            step()
        best = min(best, time.perf_counter() - start)
    return best
