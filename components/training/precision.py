"""Which floating-point precision a run trains in, resolving `auto` for the machine and model."""

from __future__ import annotations

import torch


def cpu_has_bf16_matmul() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX tiles, Sapphire Rapids on)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, present since torch 2.3
    # PyTorch packs bf16 operands for AMX only in its AVX512 kernels: where it runs lower
    # kernels (ATEN_CPU_CAPABILITY), bf16 attention fails, so AMX does not count there.
    return bool(probe and probe()) and torch.backends.cpu.get_cpu_capability() == "AVX512"


def resolve_precision(precision: str, accelerator: str, *, cpu_bf16_ready: bool) -> str:
    """Lightning's precision for `precision`, resolving `auto`: bf16-mixed on a CPU with AMX
    for a model that is `cpu_bf16_ready` (CocaModel: the `small` captioner trains 1.22x the
    examples per second of fp32 and learns as much per step, benchmarks/captioner_precision.py,
    docs/results.md "The paper recipe, whole, on this CPU in bf16"); 32-true elsewhere: a CPU
    without AMX emulates bf16, a transformers model's bf16 attention backward is slow on a
    CPU, and on a GPU the small model is launch-bound (fp32 with TF32 products, docs/results.md
    "The paper scale on a lent GPU")."""
    if precision != "auto":
        return precision
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    return "bf16-mixed" if on_cpu and cpu_bf16_ready and cpu_has_bf16_matmul() else "32-true"
