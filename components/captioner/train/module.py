"""The captioner as a LightningModule: a thin adapter over any `Captioner` and CocaLoss (over
the global batch on several ranks: global_loss.py)."""

from __future__ import annotations

from dataclasses import asdict

import lightning as L
import torch

from components.captioner.interface import Captioner
from components.captioner.loss import CocaLoss
from components.captioner.train.global_loss import global_batch_loss
from components.training.distributed import world
from components.training.fit import time_fraction
from components.training.schedule import adamw_with_schedule
from components.training.settings import OptimizerSettings


class CaptionerModule(L.LightningModule):
    def __init__(
        self,
        captioner: Captioner,
        optimizer: OptimizerSettings,
        *,
        total_steps: int,
        contrastive_weight: float = 1.0,
        caption_weight: float = 2.0,
        word_weight: float = 0.0,
    ) -> None:
        """total_steps: where the learning-rate cosine ends (the stage's max_steps)."""
        super().__init__()
        self.save_hyperparameters(
            {
                "model": captioner.config.to_dict(),
                "optimizer": asdict(optimizer),
                "total_steps": total_steps,
                "contrastive_weight": contrastive_weight,
                "caption_weight": caption_weight,
                "word_weight": word_weight,
            }
        )
        self.optimizer_settings = optimizer
        self.total_steps = total_steps
        # from_pretrained returns eval mode; Lightning does not switch a module back to train.
        self.model = captioner.train()
        if contrastive_weight > 0 and not captioner.has_contrastive:
            raise ValueError(
                f"{type(captioner).__name__} has no contrastive head: contrastive_weight must be 0, "
                f"got {contrastive_weight}"
            )
        if word_weight > 0 and not captioner.has_word_head:
            raise ValueError(
                f"{type(captioner).__name__} has no word head (CocaConfig.word_head=True): "
                f"word_weight must be 0, got {word_weight}"
            )
        self.loss = CocaLoss(
            contrastive_weight=contrastive_weight,
            caption_weight=caption_weight,
            word_weight=word_weight,
            pad_token_id=captioner.config.pad_token_id,
        )

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        output = self.model(batch["images"], batch["tokens"], batch["attention_mask"])
        _, world_size = world()
        loss = (
            self.loss(output, batch["tokens"])
            if world_size == 1
            else global_batch_loss(self.loss, output, batch["tokens"])
        )
        self.log_dict(
            {
                "train/loss": loss.total,
                "train/caption": loss.caption,
                "train/contrastive": loss.contrastive,
                "train/word": loss.word,
            },
            prog_bar=True,
            batch_size=len(batch["tokens"]),
        )
        self.log("train/truncated", batch["n_truncated"].float(), reduce_fx="sum", batch_size=len(batch["tokens"]))
        return loss.total

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss = self.loss(self.model(batch["images"], batch["tokens"], batch["attention_mask"]), batch["tokens"])
        # Every rank validates on the whole held-out split: sync_dist averages equal values.
        self.log_dict(
            {"val/loss": loss.total, "val/caption": loss.caption}, batch_size=len(batch["tokens"]), sync_dist=True
        )

    def configure_optimizers(self):
        optimizer, scheduler = adamw_with_schedule(
            self.model, self.optimizer_settings, self.total_steps, lambda: time_fraction(self)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
