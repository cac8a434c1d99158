"""Fitting any LightningModule: checkpoints without pickle every few steps, a run killed
mid-way resumed from its last one, a wall-clock budget beside the step budget, on one process
or data-parallel on several (training/distributed.py: the launch, the global batch)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, Timer
from lightning.pytorch.loggers import Logger

from components.io.console import console, quiet_library_notices
from components.training.checkpoint_io import SafetensorsCheckpointIO
from components.training.distributed import check_launch
from components.training.precision import resolve_precision
from components.training.progress import BudgetBar
from components.training.settings import TrainerSettings
from components.training.shuffled_loader import EpochLoader, LoaderPosition

if TYPE_CHECKING:
    from lightning.fabric.plugins.precision.precision import _PRECISION_INPUT

LAST_CHECKPOINT = "last.ckpt"  # a directory, written by SafetensorsCheckpointIO

quiet_library_notices()  # Lightning's LitLogger tip at every Trainer (components/io/console.py)


@dataclass(frozen=True)
class RunScale:
    """How a run was spread, as its rank 0 states it: the rule is one global batch, one lr."""

    world_size: int  # processes (devices x nodes)
    global_rank: int  # this process's
    strategy: str  # Lightning's strategy, as it resolved the setting (SingleDeviceStrategy, DDPStrategy...)
    rank_batch: int | None  # rows of each global batch per rank; None for a loader of another kind
    global_batch: int | None  # rank_batch x world_size: what the recipe's batch_size says
    lr: float | None  # the optimizer's base lr, applied to the global batch's mean gradient

    def params(self) -> dict[str, object]:
        """What the run's logger records of its scale (MLflow params `scale/...`)."""
        fields = ("world_size", "strategy", "rank_batch", "global_batch", "lr")
        return {f"scale/{name}": getattr(self, name) for name in fields}

    def line(self) -> str:
        lr = f", lr {self.lr:g}" if self.lr is not None else ""
        batch = f"{self.world_size} ranks x batch {self.rank_batch} = global batch {self.global_batch}"
        return f"data-parallel training ({self.strategy}): {batch}{lr}"


@dataclass(frozen=True)
class FitResult:
    steps: int
    minutes: float
    resumed_from: Path | None
    checkpoint_dir: Path
    precision: str  # as resolved (resolve_precision)
    scale: RunScale | None = None

    @property
    def is_global_zero(self) -> bool:
        """Whether this process is the one that writes what the run makes (always, on one process)."""
        return self.scale is None or self.scale.global_rank == 0


class RankFailed(RuntimeError):
    """One rank of a data-parallel run stopped; the others stop with it."""


class SharedClock(L.Callback):
    """Rank 0's share of the time budget, broadcast to every rank at each batch's start: a
    learning-rate schedule or a curriculum that follows time must read the same on every
    rank, or the ranks' weights part (DDP averages gradients, not updates)."""

    def __init__(self) -> None:
        self.fraction: float | None = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        # Lightning sets trainer.callbacks without declaring it on Trainer.
        callbacks = trainer.callbacks  # pyright: ignore[reportAttributeAccessIssue]
        if trainer.world_size > 1 and any(isinstance(c, Timer) for c in callbacks):  # a time budget: alike on all
            self.fraction = float(trainer.strategy.broadcast(_local_time_fraction(trainer), src=0))


class ScaleStatement(L.Callback):
    """States the run's scale when it starts: to its logger (every run, from rank 0, so each
    MLflow run says its world size, global batch and lr) and, on several ranks, printed."""

    def __init__(self) -> None:
        self.scale: RunScale | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.scale = run_scale(trainer)
        if trainer.logger is not None:  # Lightning's loggers write from rank 0 only
            trainer.logger.log_hyperparams(self.scale.params())
        if trainer.world_size > 1 and trainer.is_global_zero:
            console().write(self.scale.line() + "\n")
            console().flush()


def run_scale(trainer: L.Trainer) -> RunScale:
    loader = trainer.train_dataloader
    rank_batch = loader.batch_sampler.rank_batch if isinstance(loader, EpochLoader) else None
    groups = trainer.optimizers[0].param_groups if trainer.optimizers else []
    lr = float(groups[0].get("initial_lr", groups[0]["lr"])) if groups else None
    return RunScale(
        world_size=trainer.world_size,
        global_rank=trainer.global_rank,
        strategy=type(trainer.strategy).__name__,
        rank_batch=rank_batch,
        global_batch=rank_batch * trainer.world_size if rank_batch is not None else None,
        lr=lr,
    )


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
    cpu_bf16_ready: the model trains fast under bf16 autocast on a CPU (precision `auto`).
    On several processes (settings.devices x num_nodes, each started by a launcher) rank 0
    writes the checkpoints; a rank that fails raises RankFailed, naming itself and the step."""
    check_launch(settings)
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
    scale = ScaleStatement()
    trainer = L.Trainer(
        max_steps=settings.max_steps,
        max_epochs=-1,
        max_time=timedelta(minutes=settings.max_minutes) if settings.max_minutes else None,
        accelerator=settings.accelerator,
        strategy=settings.strategy,
        devices=settings.devices,
        num_nodes=settings.num_nodes,
        # Every rank takes its slice of the same global batches (shuffled_loader.py), in place
        # of the DistributedSampler Lightning would put into the loaders.
        use_distributed_sampler=False,
        precision=cast("_PRECISION_INPUT", precision),
        gradient_clip_val=settings.gradient_clip_val,
        plugins=[SafetensorsCheckpointIO()],
        callbacks=[
            checkpoints,
            SharedClock(),  # before any callback that reads time_fraction at a batch's start
            LoaderPosition(),
            scale,
            # Steps and time against the budget: Lightning's bars count epochs, "Epoch 2/-2" here.
            *([BudgetBar()] if settings.progress_bar else []),
            *callbacks,
        ],
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
    try:
        trainer.fit(module, datamodule=data, ckpt_path=str(resumed_from) if resumed_from else None)
    except Exception as error:
        if trainer.world_size == 1:
            raise
        raise RankFailed(rank_failure(trainer, error, last)) from error
    # The final state, whatever stopped the run: optimizer and loop state too (weights_only=False,
    # said, as ModelCheckpoint says it, or Lightning logs that it defaulted to it). Rank 0 writes it.
    trainer.save_checkpoint(str(last), weights_only=False)
    return FitResult(
        trainer.global_step,
        (time.perf_counter() - start) / 60,
        resumed_from,
        checkpoint_dir,
        trainer.precision,
        scale.scale or run_scale(trainer),
    )


def rank_failure(trainer: L.Trainer, error: BaseException, last: Path) -> str:
    """What a failed rank says: which rank, at which step, why, and where a rerun resumes."""
    why = f"{type(error).__name__}: {error}"
    if isinstance(error, torch.distributed.DistError) or "peer" in str(error).lower():
        why += " (a collective failed: most likely another rank stopped first, and its own error says why)"
    resumes = f"a rerun resumes from {last}" if last.is_dir() else "no checkpoint yet: a rerun starts afresh"
    return (
        f"rank {trainer.global_rank} of {trainer.world_size} stopped at step {trainer.global_step}: {why}; "
        f"the other ranks stop with it, and {resumes} (its last checkpoint, on any world size)"
    )


def time_fraction(module: L.LightningModule) -> float:
    """The share of its trainer's max_time that `module` has spent (kept across resumes); 0
    without a trainer or a time budget. What a schedule anneals by when time runs out first.
    On several ranks, rank 0's as of the batch's start (SharedClock), the same on every rank."""
    trainer = module._trainer
    if trainer is None:
        return 0.0
    # Lightning sets trainer.callbacks without declaring it on Trainer.
    callbacks = trainer.callbacks  # pyright: ignore[reportAttributeAccessIssue]
    clock = next((c for c in callbacks if isinstance(c, SharedClock)), None)
    if clock is not None and clock.fraction is not None and trainer.world_size > 1:
        return clock.fraction
    return _local_time_fraction(trainer)


def _local_time_fraction(trainer: L.Trainer) -> float:
    callbacks = trainer.callbacks  # pyright: ignore[reportAttributeAccessIssue]
    timer = next((c for c in callbacks if isinstance(c, Timer)), None)
    if timer is None or timer.time_remaining("train") is None:
        return 0.0
    elapsed, remaining = timer.time_elapsed("train"), timer.time_remaining("train")
    return elapsed / max(elapsed + (remaining or 0.0), 1e-9)  # remaining is not None: a duration is set
