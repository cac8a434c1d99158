"""The training bar: steps and time against the run's budget, one compact line.

Lightning's own bars count epochs, and every trainer here runs with max_epochs=-1 and a step
or wall-clock budget, so they read "Epoch 2/-2" and cannot say how far the run is. This one
says what ends the run:

    training [#########-----------]  45%  412 steps  2:42 of 6:00  loss 3.214

the fill being the larger of the steps' share of max_steps and the time's share of max_time
(a run stops at whichever budget it reaches first); "of max_steps" is shown while the steps
are the nearer end. On a terminal the line is redrawn in place, at most twice a second; on
anything else (a log, a pipe, the Dagster UI's captured output) a line is printed at each
quarter of the budget and at the end. It writes to components/io/console.py's console.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, Timer

from components.io.console import console

WIDTH = 20  # characters of the bar
REDRAW_SECONDS = 0.5  # on a terminal
QUARTERS = 4  # lines per run elsewhere


def clock(seconds: float) -> str:
    """2:05, 1:02:05."""
    whole = int(max(seconds, 0.0))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def bar_line(
    step: int, max_steps: int, elapsed: float, max_seconds: float | None, loss: float | None, *, label: str = "training"
) -> str:
    """The bar's text (no carriage return): see the module's docstring."""
    step_share = step / max_steps if max_steps > 0 else 0.0
    time_share = elapsed / max_seconds if max_seconds else 0.0
    share = min(1.0, max(step_share, time_share))
    filled = round(share * WIDTH)
    steps = f"{step:,}/{max_steps:,} steps" if step_share >= time_share else f"{step:,} steps"
    spent = f"{clock(elapsed)} of {clock(max_seconds)}" if max_seconds else clock(elapsed)
    tail = f"  loss {loss:.3f}" if loss is not None else ""
    return f"{label} [{'#' * filled}{'-' * (WIDTH - filled)}] {share:4.0%}  {steps}  {spent}{tail}"


class BudgetBar(ProgressBar):
    """Lightning's progress bar callback, as bar_line draws it (fit() adds it when the
    settings ask for a progress bar)."""

    def __init__(self, label: str = "training") -> None:
        super().__init__()
        self.label = label
        self._enabled = True
        self._start = 0.0
        self._drawn_at = 0.0
        self._quarters_shown = 0
        self._last_step_shown = -1  # a pipe's final line is left out when it would repeat the last
        self._open_line = False  # a terminal line drawn without its newline yet

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _elapsed(self, trainer: L.Trainer) -> tuple[float, float | None]:
        """Seconds spent and the time budget: the Timer's (kept across a resume) when there is one."""
        # Lightning sets trainer.callbacks without declaring it on Trainer.
        callbacks = trainer.callbacks  # pyright: ignore[reportAttributeAccessIssue]
        timer = next((c for c in callbacks if isinstance(c, Timer)), None)
        if timer is not None and (remaining := timer.time_remaining("train")) is not None:
            elapsed = timer.time_elapsed("train")
            return elapsed, elapsed + remaining
        return time.perf_counter() - self._start, None

    def _line(self, trainer: L.Trainer) -> str:
        elapsed, budget = self._elapsed(trainer)
        metrics = trainer.progress_bar_metrics
        loss = next((v for k, v in metrics.items() if k.endswith("loss") and isinstance(v, int | float)), None)
        return bar_line(trainer.global_step, trainer.max_steps, elapsed, budget, loss, label=self.label)

    def _show(self, trainer: L.Trainer, final: bool = False) -> None:
        if not self._enabled:
            return
        stream = console()
        if stream.isatty():
            now = time.perf_counter()
            if not final and now - self._drawn_at < REDRAW_SECONDS:
                return
            self._drawn_at = now
            stream.write("\r\033[K" + self._line(trainer) + ("\n" if final else ""))
            self._open_line = not final
        else:
            elapsed, budget = self._elapsed(trainer)
            step_share = trainer.global_step / trainer.max_steps if trainer.max_steps > 0 else 0.0
            share = max(step_share, elapsed / budget if budget else 0.0)
            quarters = min(QUARTERS, int(share * QUARTERS))
            if quarters <= self._quarters_shown and (not final or trainer.global_step == self._last_step_shown):
                return
            self._quarters_shown, self._last_step_shown = quarters, trainer.global_step
            stream.write(self._line(trainer) + "\n")
        stream.flush()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        self._drawn_at = 0.0
        self._quarters_shown = 0
        self._last_step_shown = -1

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._show(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._show(trainer, final=True)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if self._open_line:  # the error's lines start on a line of their own
            console().write("\n")
            self._open_line = False
