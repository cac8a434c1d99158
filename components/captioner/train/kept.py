"""Captioners kept along one training run: at chosen optimiser steps, the captioner being
trained is saved whole (`Captioner.save`: weights, config, tokenizer, manifest), so each kept
step loads as any captioner does (`load_captioner`) and can recaption, be judged or be
fine-tuned further. What gives captioners of rising quality from one run (the paper's
captioner-quality table: the same recipe stopped earlier and later).

The kept directories live outside the run's resumable checkpoints (which a completed stage
deletes): out_dir/step_NNNNNN. A run killed and resumed (a chain of segments) keeps every
step once: a step already kept is not written again.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import lightning as L

from components.captioner.interface import Captioner


def kept_dir(out_dir: Path, step: int) -> Path:
    """Where the captioner after `step` optimiser steps is kept: out_dir/step_000400."""
    return Path(out_dir) / f"step_{step:06d}"


def kept_steps(out_dir: Path) -> list[int]:
    """The steps kept so far under `out_dir`, ascending (complete directories only: each is
    renamed into place whole)."""
    if not Path(out_dir).is_dir():
        return []
    found = (p.name.removeprefix("step_") for p in Path(out_dir).glob("step_*") if p.is_dir())
    return sorted(int(s) for s in found if s.isdigit())


class KeepCaptioners(L.Callback):
    """Saves the module's captioner (`pl_module.model`) after every `every` optimiser steps
    and after each of `steps`, into kept_dir(out_dir, step); `extra` joins each one's
    manifest beside {"stage": "finetune", "steps": step, "kept": True}. On several ranks,
    rank 0 writes."""

    def __init__(
        self, out_dir: Path, *, every: int | None = None, steps: Iterable[int] = (), extra: dict[str, Any] | None = None
    ) -> None:
        steps = sorted(set(steps))
        if every is not None and (isinstance(every, bool) or every < 1):
            raise ValueError(f"keep every {every!r} steps: must be an int >= 1 (or None)")
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in steps):
            raise ValueError(f"steps to keep must be ints >= 1, got {steps}")
        if every is None and not steps:
            raise ValueError("KeepCaptioners needs `every` or `steps`: nothing would be kept")
        self.out_dir, self.every, self.steps, self.extra = Path(out_dir), every, steps, dict(extra or {})

    def wanted(self, step: int) -> bool:
        return step in self.steps or (self.every is not None and step > 0 and step % self.every == 0)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step  # optimiser steps done, this batch's included
        if not trainer.is_global_zero or not self.wanted(step):
            return
        target = kept_dir(self.out_dir, step)
        if target.is_dir():  # kept by an earlier segment of the chain
            return
        captioner = cast(Captioner, pl_module.model)  # the CaptionerModule's captioner
        captioner.save(target, extra={**self.extra, "stage": "finetune", "steps": step, "kept": True})
