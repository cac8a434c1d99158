"""How the captioner's batches are made: a recipe's setting, apart from data.py so that reading
a recipe imports neither Lightning nor torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CaptionerDataSettings:
    batch_size: int = 32
    long_share: float = 0.7  # curated stage: share of examples that train the long caption
    augment: bool = True  # curated stage: colour permutation and flips that keep captions true
    grouped_batches: bool = True  # curated stage: batches of one caption type, long ones grouped by length
    shuffle_buffer: int = 2000  # web samples held for shuffling
    num_workers: int = 0  # DataLoader processes: 0 on a 2-core CPU; 2-3 keep a GPU fed

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0.0 <= self.long_share <= 1.0:
            raise ValueError(f"long_share must be in [0, 1], got {self.long_share}")
        if self.shuffle_buffer < 1 or self.num_workers < 0:
            raise ValueError(
                f"shuffle_buffer ({self.shuffle_buffer}) must be >= 1 and num_workers ({self.num_workers}) >= 0"
            )
