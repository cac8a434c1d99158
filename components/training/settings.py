"""The settings every training stage shares, as plain dataclasses: what a recipe holds and
params.yaml overrides. Kept apart from fit.py and schedule.py so that reading a recipe (the
Dagster definitions do, at load) imports neither Lightning nor torch."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import TypeVar

_Recipe = TypeVar("_Recipe")

# Lightning's strategy names this project runs: one process per device holding the whole model
# and the ranks' gradients averaged (DDP; gloo on CPUs, NCCL on GPUs), DDP that tolerates
# parameters a step leaves unused, and FSDP (shards the model over NCCL: a CUDA device only).
STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true", "fsdp")


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


@dataclass(frozen=True)
class TrainerSettings:
    max_steps: int = 2000
    max_minutes: float | None = None  # wall-clock budget; training stops at whichever comes first
    checkpoint_every_n_steps: int = 100
    log_every_n_steps: int = 1  # MLflow gets every step (a sqlite write costs ~10 ms)
    val_every_n_steps: int | None = None  # None: validate once, at the end
    val_batches: int = 8
    precision: str = "auto"  # Lightning's precision, or `auto` (resolve_precision)
    gradient_clip_val: float | None = 1.0  # global gradient norm cap (open_clip's default 1.0); None: no clipping
    accelerator: str = "auto"
    progress_bar: bool = True
    # Data parallelism (README, Data-parallel training): processes per node and nodes, each
    # started by a launcher (torchrun, srun); the recipe's batch size stays the global batch.
    strategy: str = "auto"  # STRATEGIES; `auto`: DDP when there are several processes
    devices: int | str = 1  # per node; `auto`: every device of the accelerator
    num_nodes: int = 1

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.checkpoint_every_n_steps < 1 or self.log_every_n_steps < 1:
            raise ValueError(
                f"max_steps ({self.max_steps}), checkpoint_every_n_steps "
                f"({self.checkpoint_every_n_steps}) and log_every_n_steps ({self.log_every_n_steps}) "
                "must be >= 1"
            )
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be > 0, got {self.max_minutes}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"trainer strategy {self.strategy!r} is not one of {STRATEGIES}")
        if isinstance(self.devices, bool) or not (
            (isinstance(self.devices, int) and self.devices >= 1) or self.devices == "auto"
        ):
            raise ValueError(f"trainer devices must be a count >= 1 or 'auto', got {self.devices!r}")
        if isinstance(self.num_nodes, bool) or not isinstance(self.num_nodes, int) or self.num_nodes < 1:
            raise ValueError(f"trainer num_nodes must be a count >= 1, got {self.num_nodes!r}")


def scale_budgets(recipe: _Recipe, factor: float) -> _Recipe:
    """`recipe` (a frozen dataclass) with the wall-clock budget of every TrainerSettings in it,
    however deep, times `factor`; budgets of None (steps alone) stay None. The main job shrinks
    the quick budgets this way on a machine slower than the one they were measured on
    (recap_dagster/job_budget.py)."""
    if not 0 < factor <= 1:
        raise ValueError(f"a budget factor must be in (0, 1], got {factor!r}")
    if isinstance(recipe, TrainerSettings):
        minutes = recipe.max_minutes
        return replace(recipe, max_minutes=None if minutes is None else minutes * factor)  # type: ignore[return-value]
    if not is_dataclass(recipe) or isinstance(recipe, type):
        return recipe
    changed = {}
    for f in fields(recipe):
        value = getattr(recipe, f.name)
        scaled = scale_budgets(value, factor)
        if scaled is not value:
            changed[f.name] = scaled
    return replace(recipe, **changed) if changed else recipe  # type: ignore[type-var]
