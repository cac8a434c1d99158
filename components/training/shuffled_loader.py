"""The training DataLoader every stage's data module returns: shuffled by its own seeded
generator (the same order for the same seed, whatever else drew from torch's global RNG), and
the last short batch dropped unless it is the only one (a tiny set still trains)."""

from __future__ import annotations

from collections.abc import Callable, Sized
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


def shuffled_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    seed: int,
    num_workers: int = 0,
    collate_fn: Callable[[list], Any] | None = None,
) -> DataLoader:
    size = len(dataset) if isinstance(dataset, Sized) else batch_size + 1
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=size > batch_size,
        collate_fn=collate_fn,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )
