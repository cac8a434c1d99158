"""The rewriter as a LightningModule: a thin adapter over a transformers causal LM or
encoder-decoder, whose own loss (cross-entropy on the labels, -100 skipped; a causal LM shifts
them by one) is the objective. That loss is a mean over the batch's target tokens, whose count
differs between ranks: on several, each rank's is weighted by its share of the global batch's
tokens (training/distributed.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import lightning as L
import torch

from components.training.distributed import global_mean_share
from components.training.fit import time_fraction
from components.training.schedule import adamw_with_schedule
from components.training.settings import OptimizerSettings
from components.upsampling.train.data import IGNORE


class RewriterModule(L.LightningModule):
    def __init__(self, model: Any, optimizer: OptimizerSettings, *, total_steps: int) -> None:
        super().__init__()
        self.save_hyperparameters(
            {"model": model.config.to_dict(), "optimizer": asdict(optimizer), "total_steps": total_steps}
        )
        self.model = model.train()
        self.optimizer_settings, self.total_steps = optimizer, total_steps

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        first = 0 if self.model.config.is_encoder_decoder else 1  # a causal LM never predicts label 0
        targets = (batch["labels"][:, first:] != IGNORE).sum()
        loss = self.model(**batch).loss * global_mean_share(targets).to(batch["labels"].device)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]))
        return loss

    def configure_optimizers(self):
        optimizer, scheduler = adamw_with_schedule(
            self.model, self.optimizer_settings, self.total_steps, lambda: time_fraction(self)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
