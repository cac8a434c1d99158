"""The captioner as a LightningModule: a thin adapter over CocaModel and CocaLoss."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import lightning as L
import torch
from torch import nn
from lightning.pytorch.callbacks import Timer

from components.captioner.model import CocaModel
from components.captioner.config import CocaConfig
from components.captioner.loss import CocaLoss
from components.captioner.hf_backend import HFCaptionerConfig


@dataclass(frozen=True)
class OptimizerSettings:
    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 100
    total_steps: int = 2000  # the cosine decays to min_lr_ratio * lr here
    min_lr_ratio: float = 0.05

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"lr ({self.lr}) must be > 0 and weight_decay ({self.weight_decay}) >= 0")
        if self.warmup_steps < 0 or self.total_steps < 1:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be >= 0, total_steps ({self.total_steps}) >= 1")

    def lr_factor(self, step: int, time_fraction: float = 0.0) -> float:
        """Linear warm-up, then cosine to min_lr_ratio: the multiplier of lr at `step`.

        A run with a wall-clock budget passes the share of it spent, `time_fraction`; the
        cosine follows whichever of steps and time is further along, so a run stopped by
        its budget has still annealed (a step-only schedule would stop at a high lr)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        progress = max(progress, min(1.0, time_fraction))
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class CaptionerModule(L.LightningModule):
    def __init__(
        self,
        config: CocaConfig | HFCaptionerConfig,
        optimizer: OptimizerSettings,
        *,
        contrastive_weight: float = 1.0,
        caption_weight: float = 2.0,
        word_weight: float = 0.0,
        model: nn.Module | None = None,
    ) -> None:
        """`model`: a ready backend (an HFCaptioner); None builds a CocaModel from `config`."""
        super().__init__()
        self.save_hyperparameters({
            "model": config.to_dict(), "optimizer": asdict(optimizer),
            "contrastive_weight": contrastive_weight, "caption_weight": caption_weight, "word_weight": word_weight,
        })
        self.config = config
        self.optimizer_settings = optimizer
        # from_pretrained returns eval mode; Lightning does not switch a module back to train.
        self.model = CocaModel(config) if model is None else model.train()
        if contrastive_weight > 0 and not getattr(self.model, "has_contrastive", True):
            raise ValueError(f"{type(self.model).__name__} has no contrastive head: contrastive_weight must be 0, "
                             f"got {contrastive_weight}")
        if word_weight > 0 and getattr(self.model, "word_head", None) is None:
            raise ValueError(f"{type(self.model).__name__} has no word head (CocaConfig.word_head=True): "
                             f"word_weight must be 0, got {word_weight}")
        self.loss = CocaLoss(contrastive_weight=contrastive_weight, caption_weight=caption_weight,
                             word_weight=word_weight, pad_token_id=config.pad_token_id)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(self.model(batch["images"], batch["tokens"], batch["attention_mask"]), batch["tokens"])
        self.log_dict({"train/loss": loss.total, "train/caption": loss.caption, "train/contrastive": loss.contrastive,
                       "train/word": loss.word}, prog_bar=True, batch_size=len(batch["tokens"]))
        self.log("train/truncated", batch["n_truncated"].float(), reduce_fx="sum", batch_size=len(batch["tokens"]))
        return loss.total

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss = self.loss(self.model(batch["images"], batch["tokens"], batch["attention_mask"]), batch["tokens"])
        self.log_dict({"val/loss": loss.total, "val/caption": loss.caption}, batch_size=len(batch["tokens"]))

    def time_fraction(self) -> float:
        """The share of the trainer's max_time spent (kept across resumes), 0 without one."""
        trainer = self._trainer
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None) if trainer else None
        if timer is None or timer.time_remaining("train") is None:
            return 0.0
        elapsed, remaining = timer.time_elapsed("train"), timer.time_remaining("train")
        return elapsed / max(elapsed + remaining, 1e-9)

    def configure_optimizers(self):
        # Norms, biases, embeddings and the temperature are not decayed (as in CLIP/GPT); the
        # embeddings are found by module type, since backends name them differently (wte, wpe).
        embeddings = {id(p) for m in self.model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
        decay, no_decay = [], []
        for name, parameter in self.model.named_parameters():
            plain = parameter.ndim >= 2 and "embed" not in name and id(parameter) not in embeddings
            (decay if plain else no_decay).append(parameter)
        s = self.optimizer_settings
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=s.lr, betas=s.betas,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: s.lr_factor(step, self.time_fraction()))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
