"""Out-of-memory fallback: a batch that does not fit is halved and retried.

Recaptioning runs for hours on whatever accelerator it gets; a batch size tuned on one
card can overflow another, or overflow only on the shard whose captions run longest.
Rather than fail the shard, the batcher halves its batch size, frees the allocator's
cache and retries the same items; the smaller size is kept for the rest of the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

logger = logging.getLogger("recap.recaption")

T = TypeVar("T")
R = TypeVar("R")


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeErrors other backends raise for the same."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


class HalvingBatcher:
    """Maps a batch function over items in chunks of `batch_size`, halving it on OOM."""

    def __init__(self, batch_size: int, *, on_halve: Callable[[int, int], None] | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be a positive int")
        self.batch_size = batch_size
        self.halvings = 0
        self.on_halve = on_halve

    def call(self, fn: Callable[[int], R]) -> R:
        """fn(batch_size) -> its result, called again at half the size after each OOM (for
        a function that batches inside, such as the engine's rows in flight)."""
        while True:
            try:
                return fn(self.batch_size)
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                self._halve(error)

    def _halve(self, error: BaseException) -> None:
        if self.batch_size == 1:
            raise RuntimeError("out of memory at batch size 1: the model does not fit this device") from error
        old, self.batch_size = self.batch_size, self.batch_size // 2
        self.halvings += 1
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        logger.warning("out of memory at batch size %d: retrying at %d", old, self.batch_size)
        if self.on_halve is not None:
            self.on_halve(old, self.batch_size)

    def map(self, fn: Callable[[Sequence[T]], list[R]], items: Sequence[T]) -> list[R]:
        """fn(chunk) -> one result per item of the chunk; results in the items' order."""
        results: list[R] = []
        start = 0
        while start < len(items):
            chunk = items[start : start + self.batch_size]
            try:
                out = fn(chunk)
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                self._halve(error)
                continue
            if len(out) != len(chunk):
                raise ValueError(f"batch function returned {len(out)} results for {len(chunk)} items")
            results.extend(out)
            start += len(chunk)
        return results
