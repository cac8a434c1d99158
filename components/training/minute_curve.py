"""A callback that measures a model every few minutes of training, as a curve over training
minutes that survives resumes: how the VAE's and the generator's recipes are chosen.

Minutes count wall-clock time inside training batches only, so the measurements themselves
(sampling, parsing) do not eat into the curve's x axis. Subclasses say what to measure. On
several ranks rank 0 measures, by its own minutes (the weights are the same on every rank, and
rank 0 writes the checkpoint that keeps the curve); the others train on.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L


class MinuteCurve(L.Callback):
    """Every `every_minutes` of training, `measure(trainer, module)` -> a dict of figures, kept
    in `points` with the minute and step, and logged as `<prefix>/<name>` at the step."""

    prefix = "curve"

    def __init__(self, every_minutes: float) -> None:
        if every_minutes <= 0:
            raise ValueError(f"every_minutes must be > 0, got {every_minutes}")
        self.every_minutes = every_minutes
        self.points: list[dict[str, float]] = []
        self.trained_minutes, self.next_at = 0.0, every_minutes
        self._batch_start = 0.0

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, object]:
        """Kept in the checkpoint, so a resumed run continues its minutes and its curve."""
        return {"trained_minutes": self.trained_minutes, "next_at": self.next_at, "points": self.points}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.trained_minutes = float(state_dict["trained_minutes"])
        self.next_at = float(state_dict["next_at"])
        self.points = [dict(p) for p in state_dict["points"]]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.trained_minutes += (time.perf_counter() - self._batch_start) / 60
        if self.trained_minutes >= self.next_at and trainer.is_global_zero:
            self.add_point(trainer, pl_module)
            self.next_at += self.every_minutes

    def add_point(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        figures = {name: float(value) for name, value in self.measure(trainer, pl_module).items()}
        point = {"minutes": round(self.trained_minutes, 3), "step": trainer.global_step, **figures}
        self.points.append(point)
        metrics = {f"{self.prefix}/{k}": float(v) for k, v in figures.items()}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        return point
