"""Random numbers that depend on a sample's key, never on its batch.

A caption written by nucleus sampling must come out the same whichever images share its
batch, in whatever order, on whatever device. So each (key, caption type) gets a 64-bit
seed from a hash of its name, and the uniform draw of step t is a pure function of
(seed, t): SplitMix64 (Steele, Lea and Flood 2014) over a Weyl sequence, the generator
Java's SplittableRandom uses. One vectorised call serves every live row of a step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: the Weyl increment
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def key_seed(seed: int, key: str, stream: str) -> int:
    """A 64-bit seed for one sample's `stream` (e.g. its "short" or "long" caption)."""
    digest = hashlib.blake2b(f"{int(seed)}\x00{key}\x00{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def key_seeds(seed: int, keys: Sequence[str], stream: str) -> np.ndarray:
    """(n,) uint64 seeds, one per key."""
    return np.array([key_seed(seed, k, stream) for k in keys], dtype=np.uint64)


def step_uniforms(seeds: np.ndarray, step: int | np.ndarray) -> np.ndarray:
    """(n,) float64 in [0, 1): draw number `step` (0-based) of each seed's stream; `step`
    is one int for every row, or (n,) ints, one per row (rows decoded at their own pace)."""
    if seeds.dtype != np.uint64:
        raise ValueError(f"seeds must be uint64, got {seeds.dtype}")
    steps = np.asarray(step)
    if steps.dtype.kind not in "iu" or (steps.ndim and steps.shape != seeds.shape):
        raise ValueError(f"step must be an int or one int per seed {seeds.shape}, got {steps.dtype} {steps.shape}")
    if (steps < 0).any():
        raise ValueError(f"step={step} must be >= 0")
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps mod 2^64 by design
        z = seeds + _GOLDEN * (steps.astype(np.uint64) + np.uint64(1))
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))  # top 53 bits
