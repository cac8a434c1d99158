"""Curated batches of one caption type, long ones grouped by length.

A batch pads every caption to its longest. Mixing types wastes most of a step: a short
caption (about 14 tokens) padded to a long one's 140 costs as much as a long caption, and
a batch of long captions drawn at random pads its mean of about 80 tokens to its maximum
of about 140. So each batch holds one type, drawn per batch (long with the dataset's
`long_share`, read when the batch is drawn so a curriculum can change it), and long
batches come from a stream grouped by length: a shuffled pass over the items is cut into
mega-batches of `group` batches, each sorted by caption length and cut into batches, whose
order is shuffled again (the scheme of HF Trainer's `group_by_length`). Each batch is a
list of (index, type) pairs that `CuratedCaptionDataset` reads. These are global batches: on
several ranks each takes its slice of every one (training/shuffled_loader.py), so a batch's
type is the same on every rank.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Sampler

CaptionKey = tuple[int, str]  # (item index, "short" | "long")


class IndexStream:
    """Endless batches of item indices; each pass over the items is freshly shuffled and,
    given lengths, grouped by length."""

    def __init__(
        self,
        n_items: int,
        batch_size: int,
        rng: np.random.Generator,
        lengths: Sequence[int] | None = None,
        group: int = 8,
    ) -> None:
        self.n_items, self.batch_size, self.rng = n_items, batch_size, rng
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.group = group
        self.pending: list[np.ndarray] = []

    def next_batch(self) -> np.ndarray:
        if not self.pending:
            self.pending = self._one_pass()
        return self.pending.pop()

    def _one_pass(self) -> list[np.ndarray]:
        order = self.rng.permutation(self.n_items)
        n_batches = self.n_items // self.batch_size  # drop_last: every batch is full
        if self.lengths is None:
            return [order[i * self.batch_size : (i + 1) * self.batch_size] for i in range(n_batches)]
        batches: list[np.ndarray] = []
        mega = self.batch_size * self.group
        for start in range(0, n_batches * self.batch_size, mega):
            chunk = order[start : min(start + mega, n_batches * self.batch_size)]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in self.rng.permutation(len(batches))]


class CaptionTypeBatches(Sampler[list[CaptionKey]]):
    """len(dataset) // batch_size batches per epoch, each of one caption type."""

    def __init__(self, dataset, batch_size: int, long_lengths: Sequence[int], *, seed: int = 0, group: int = 8) -> None:
        if batch_size > len(dataset):
            raise ValueError(f"batch_size {batch_size} exceeds the {len(dataset)} curated training items")
        if len(long_lengths) != len(dataset):
            raise ValueError(f"{len(long_lengths)} long-caption lengths for {len(dataset)} items")
        self.dataset, self.batch_size = dataset, batch_size
        self.rng = np.random.default_rng([seed, 7919])
        self.short = IndexStream(len(dataset), batch_size, self.rng)
        self.long = IndexStream(len(dataset), batch_size, self.rng, long_lengths, group)

    def __len__(self) -> int:
        return len(self.dataset) // self.batch_size

    def __iter__(self) -> Iterator[list[CaptionKey]]:
        for _ in range(len(self)):
            kind = "long" if self.rng.random() < self.dataset.long_share else "short"
            stream = self.long if kind == "long" else self.short
            yield [(int(i), kind) for i in stream.next_batch()]

    def random_state(self) -> dict[str, Any]:
        """The generator and the passes under way: what the next batches are drawn from."""
        return {
            "rng": self.rng.bit_generator.state,
            "short": [batch.tolist() for batch in self.short.pending],
            "long": [batch.tolist() for batch in self.long.pending],
        }

    def set_random_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.short.pending = [np.asarray(batch, dtype=np.int64) for batch in state["short"]]
        self.long.pending = [np.asarray(batch, dtype=np.int64) for batch in state["long"]]

    def skip_epoch(self) -> None:
        for _ in self:  # each batch's type at the dataset's long_share now
            pass
