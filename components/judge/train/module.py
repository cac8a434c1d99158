"""The judge as a LightningModule: a thin adapter over AlignmentJudge and judge_loss."""

from __future__ import annotations

from dataclasses import asdict

import lightning as L
import torch

from components.judge.loss import judge_loss
from components.judge.model import AlignmentJudge
from components.training.fit import time_fraction
from components.training.schedule import adamw_with_schedule
from components.training.settings import OptimizerSettings


class JudgeModule(L.LightningModule):
    def __init__(
        self, judge: AlignmentJudge, optimizer: OptimizerSettings, *, total_steps: int, match_weight: float = 1.0
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                "model": judge.config.to_dict(),
                "optimizer": asdict(optimizer),
                "total_steps": total_steps,
                "match_weight": match_weight,
            }
        )
        self.model = judge.train()
        self.optimizer_settings, self.total_steps, self.match_weight = optimizer, total_steps, match_weight

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = judge_loss(
            self.model,
            batch["images"],
            batch["tokens"],
            batch["valid"],
            batch["negative_owner"],
            match_weight=self.match_weight,
        )
        self.log_dict(
            {
                "train/loss": loss.total,
                "train/contrastive": loss.contrastive,
                "train/match": loss.match,
                "train/match_accuracy": loss.match_accuracy,
            },
            prog_bar=True,
            batch_size=len(batch["images"]),
        )
        return loss.total

    def configure_optimizers(self):
        optimizer, scheduler = adamw_with_schedule(
            self.model, self.optimizer_settings, self.total_steps, lambda: time_fraction(self)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
