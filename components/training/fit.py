"""Fitting any LightningModule: checkpoints without pickle every few steps, a run killed
mid-way resumed from its last one, a wall-clock budget beside the step budget."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, Timer
from lightning.pytorch.loggers import Logger

from components.io.console import quiet_library_notices
from components.training.checkpoint_io import SafetensorsCheckpointIO
from components.training.precision import resolve_precision
from components.training.progress import BudgetBar
from components.training.settings import TrainerSettings

if TYPE_CHECKING:
    from lightning.fabric.plugins.precision.precision import _PRECISION_INPUT

LAST_CHECKPOINT = "last.ckpt"  # a directory, written by SafetensorsCheckpointIO

quiet_library_notices()  # Lightning's LitLogger tip at every Trainer (components/io/console.py)


@dataclass(frozen=True)
class FitResult:
    steps: int
    minutes: float
    resumed_from: Path | None
    checkpoint_dir: Path
    precision: str  # as resolved (resolve_precision)


def fit(
    module: L.LightningModule,
    data: L.LightningDataModule,
    settings: TrainerSettings,
    work_dir: Path,
    *,
    seed: int = 0,
    validate: bool = True,
    cpu_bf16_ready: bool = False,
    logger: Logger | bool = False,
    resume: bool = True,
    callbacks: Sequence[L.Callback] = (),
) -> FitResult:
    """Fits `module`; with `resume`, continues from work_dir/checkpoints/last.ckpt when present.
    validate: run the data's validation batches (every val_every_n_steps, else at the end).
    cpu_bf16_ready: the model trains fast under bf16 autocast on a CPU (precision `auto`)."""
    L.seed_everything(seed, workers=True, verbose=False)
    checkpoint_dir = work_dir / "checkpoints"
    last = checkpoint_dir / LAST_CHECKPOINT
    resumed_from = last if resume and last.is_dir() else None
    checkpoints = ModelCheckpoint(
        dirpath=checkpoint_dir,
        every_n_train_steps=settings.checkpoint_every_n_steps,
        save_last=True,
        save_top_k=0,
        save_on_train_epoch_end=False,
    )
    # A configured string: Lightning checks it is one of its precisions.
    precision = resolve_precision(settings.precision, settings.accelerator, cpu_bf16_ready=cpu_bf16_ready)
    trainer = L.Trainer(
        max_steps=settings.max_steps,
        max_epochs=-1,
        max_time=timedelta(minutes=settings.max_minutes) if settings.max_minutes else None,
        accelerator=settings.accelerator,
        devices=1,
        precision=cast("_PRECISION_INPUT", precision),
        gradient_clip_val=settings.gradient_clip_val,
        plugins=[SafetensorsCheckpointIO()],
        # Steps and time against the budget: Lightning's bars count epochs, "Epoch 2/-2" here.
        callbacks=[checkpoints, *([BudgetBar()] if settings.progress_bar else []), *callbacks],
        logger=logger,
        log_every_n_steps=settings.log_every_n_steps,
        enable_progress_bar=settings.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=settings.val_batches if validate else 0,
        val_check_interval=settings.val_every_n_steps or settings.max_steps,
        check_val_every_n_epoch=None,
        default_root_dir=str(work_dir),
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=str(resumed_from) if resumed_from else None)
    # The final state, whatever stopped the run: optimizer and loop state too (weights_only=False,
    # said, as ModelCheckpoint says it, or Lightning logs that it defaulted to it).
    trainer.save_checkpoint(str(last), weights_only=False)
    return FitResult(
        trainer.global_step, (time.perf_counter() - start) / 60, resumed_from, checkpoint_dir, trainer.precision
    )


def time_fraction(module: L.LightningModule) -> float:
    """The share of its trainer's max_time that `module` has spent (kept across resumes); 0
    without a trainer or a time budget. What a schedule anneals by when time runs out first."""
    trainer = module._trainer
    # Lightning sets trainer.callbacks without declaring it on Trainer.
    callbacks = trainer.callbacks if trainer else []  # pyright: ignore[reportAttributeAccessIssue]
    timer = next((c for c in callbacks if isinstance(c, Timer)), None)
    if timer is None or timer.time_remaining("train") is None:
        return 0.0
    elapsed, remaining = timer.time_elapsed("train"), timer.time_remaining("train")
    return elapsed / max(elapsed + (remaining or 0.0), 1e-9)  # remaining is not None: a duration is set
