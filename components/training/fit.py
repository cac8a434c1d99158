"""Training the captioner: the tokenizer, then Lightning fits that checkpoint without pickle
and resume where a killed run left off."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger

from components.text.tokenizer import CaptionTokenizer
from components.captioner.train.data import CaptionerDataModule
from components.captioner.train.module import CaptionerModule
from components.training.checkpoint_io import SafetensorsCheckpointIO

LAST_CHECKPOINT = "last.ckpt"  # a directory, written by SafetensorsCheckpointIO


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
    seed: int = 0
    progress_bar: bool = True

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.checkpoint_every_n_steps < 1 or self.log_every_n_steps < 1:
            raise ValueError(f"max_steps ({self.max_steps}), checkpoint_every_n_steps "
                             f"({self.checkpoint_every_n_steps}) and log_every_n_steps ({self.log_every_n_steps}) "
                             "must be >= 1")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be > 0, got {self.max_minutes}")


def cpu_has_bf16_matmul() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX tiles, Sapphire Rapids on)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, present since torch 2.3
    return bool(probe and probe())


def resolve_precision(precision: str, accelerator: str, *, cpu_bf16_ready: bool) -> str:
    """Lightning's precision for `precision`, resolving `auto`: bf16-mixed on a CPU with AMX
    for a model that is `cpu_bf16_ready` (CocaModel: the `small` captioner trains 1.22x the
    examples per second of fp32 and learns as much per step, benchmarks/captioner_precision.py,
    docs/results.md); 32-true elsewhere: a CPU without AMX emulates bf16, a transformers
    model's bf16 attention backward is slow on a CPU, and on a GPU the small model is
    launch-bound (fp32 with TF32 products is what was measured there)."""
    if precision != "auto":
        return precision
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    return "bf16-mixed" if on_cpu and cpu_bf16_ready and cpu_has_bf16_matmul() else "32-true"


@dataclass(frozen=True)
class FitResult:
    steps: int
    minutes: float
    resumed_from: Path | None
    checkpoint_dir: Path
    precision: str  # as resolved (resolve_precision)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> CaptionTokenizer:
    """Byte-level BPE over the captions the captioner will read and write."""
    return CaptionTokenizer.train(texts, vocab_size=vocab_size)


def fit(
    module: CaptionerModule,
    data: CaptionerDataModule,
    settings: TrainerSettings,
    work_dir: Path,
    *,
    logger: Logger | bool = False,
    resume: bool = True,
    callbacks: Sequence[L.Callback] = (),
) -> FitResult:
    """Fits `module`; with `resume`, continues from work_dir/checkpoints/last.ckpt when present."""
    L.seed_everything(settings.seed, workers=True, verbose=False)
    checkpoint_dir = work_dir / "checkpoints"
    last = checkpoint_dir / LAST_CHECKPOINT
    resumed_from = last if resume and last.is_dir() else None
    checkpoints = ModelCheckpoint(
        dirpath=checkpoint_dir, every_n_train_steps=settings.checkpoint_every_n_steps,
        save_last=True, save_top_k=0, save_on_train_epoch_end=False,
    )
    data.setup("fit")
    has_val = bool(data.val_items)
    trainer = L.Trainer(
        max_steps=settings.max_steps,
        max_epochs=-1,
        max_time={"minutes": settings.max_minutes} if settings.max_minutes else None,
        accelerator=settings.accelerator,
        devices=1,
        precision=resolve_precision(settings.precision, settings.accelerator,
                                    cpu_bf16_ready=getattr(module.model, "cpu_bf16_ready", False)),
        gradient_clip_val=settings.gradient_clip_val,
        plugins=[SafetensorsCheckpointIO()],
        callbacks=[checkpoints, *callbacks],
        logger=logger,
        log_every_n_steps=settings.log_every_n_steps,
        enable_progress_bar=settings.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=settings.val_batches if has_val else 0,
        val_check_interval=settings.val_every_n_steps or settings.max_steps,
        check_val_every_n_epoch=None,
        default_root_dir=str(work_dir),
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=str(resumed_from) if resumed_from else None)
    trainer.save_checkpoint(str(last))  # the final state, whatever stopped the run
    return FitResult(trainer.global_step, (time.perf_counter() - start) / 60, resumed_from, checkpoint_dir,
                     trainer.precision)
