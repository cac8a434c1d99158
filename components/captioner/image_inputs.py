"""The image check both captioner backends apply at their boundary."""

from __future__ import annotations

import torch
from torch import Tensor


def check_images(images: Tensor, *, channels: int = 3, size: int | None = None) -> None:
    """images must be (B, channels, size, size) (any H, W when size is None), float in [0, 1]."""
    h, w = (size, size) if size is not None else ("H", "W")
    shape_ok = isinstance(images, Tensor) and images.ndim == 4 and images.shape[1] == channels
    if shape_ok and size is not None:
        shape_ok = tuple(images.shape[2:]) == (size, size)
    if not shape_ok:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be (B, {channels}, {h}, {w}), got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"images must be float in [0, 1], got dtype {images.dtype}")
    lo, hi = torch.aminmax(images.detach())
    if lo < 0 or hi > 1:
        raise ValueError(f"images must lie in [0, 1], got values in [{lo.item():.3g}, {hi.item():.3g}]")
