"""Training the autoencoder with Lightning: a thin module over vae_loss, the images it
learns from, and a callback that measures the curve (PSNR, objects kept) every few minutes
of training, which is how its recipe is chosen (docs/results.md)."""

from __future__ import annotations

from dataclasses import asdict

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from components.training.fit import time_fraction
from components.training.minute_curve import MinuteCurve
from components.training.schedule import adamw_with_schedule
from components.training.settings import OptimizerSettings
from components.training.shuffled_loader import data_rank, shuffled_loader
from components.vae.loss import vae_loss
from components.vae.metrics import reconstruction_report
from components.vae.model import Vae, to_pixels


class VaeModule(L.LightningModule):
    def __init__(self, vae: Vae, optimizer: OptimizerSettings, *, total_steps: int, kl_weight: float) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                "vae": dict(vae.config),
                "optimizer": asdict(optimizer),
                "total_steps": total_steps,
                "kl_weight": kl_weight,
            }
        )
        # Channels-last weights and images: oneDNN's convolutions run 1.9x faster that way on
        # this CPU (docs/benchmarks.md "The autoencoder's step").
        vae.to(memory_format=torch.channels_last)  # pyright: ignore[reportCallIssue] (untyped overload); in place
        self.vae = vae.train()
        self.optimizer_settings, self.total_steps, self.kl_weight = optimizer, total_steps, kl_weight

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        batch = batch.contiguous(memory_format=torch.channels_last)
        loss = vae_loss(self.vae, batch, kl_weight=self.kl_weight)
        self.log_dict(
            {"train/loss": loss.total, "train/reconstruction": loss.reconstruction, "train/kl": loss.kl},
            prog_bar=True,
            batch_size=len(batch),
        )
        return loss.total

    def configure_optimizers(self):
        optimizer, scheduler = adamw_with_schedule(
            self.vae, self.optimizer_settings, self.total_steps, lambda: time_fraction(self)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class ImageArray(Dataset):
    """(N, H, W, 3) uint8 images -> (3, H, W) float tensors in [-1, 1]. No augmentation:
    a flip would mirror a sign's word, and the autoencoder sees each image only a few times
    in its budget."""

    def __init__(self, images: np.ndarray) -> None:
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}")
        if len(images) == 0:
            raise ValueError("no images to train the autoencoder on")
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_pixels(self.images[index])


class VaeData(L.LightningDataModule):
    def __init__(self, images: ImageArray, *, batch_size: int, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        self.images, self.batch_size, self.seed, self.num_workers = images, batch_size, seed, num_workers

    def train_dataloader(self) -> DataLoader:
        """This rank's rows of each global batch (training/shuffled_loader.py); the loss is a
        mean over pixels and rows, so the ranks' average is the global batch's."""
        rank, world_size = data_rank(self)
        return shuffled_loader(
            self.images,
            batch_size=self.batch_size,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            num_workers=self.num_workers,
        )


class ReconstructionCurve(MinuteCurve):
    """The held-out reconstruction report (PSNR, objects kept, scenes exact) every
    `every_minutes` of training, logged as `vae/*`. With `stop_at_objects_kept`, training stops
    at the first point that keeps at least that share of the held-out objects (one process:
    only rank 0 measures, so the others would not know to stop)."""

    prefix = "vae"

    def __init__(self, heldout: np.ndarray, every_minutes: float, stop_at_objects_kept: float | None = None) -> None:
        super().__init__(every_minutes)
        if stop_at_objects_kept is not None and not 0.0 <= stop_at_objects_kept <= 1.0:
            raise ValueError(f"stop_at_objects_kept must be in [0, 1] or None, got {stop_at_objects_kept}")
        self.heldout, self.stop_at_objects_kept = heldout, stop_at_objects_kept

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        report = reconstruction_report(pl_module.vae, self.heldout)  # pyright: ignore[reportArgumentType]
        return {k: float(v) for k, v in report.as_dict().items() if k != "images"}

    def add_point(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        point = super().add_point(trainer, pl_module)
        if self.stop_at_objects_kept is not None and point["objects_kept"] >= self.stop_at_objects_kept:
            trainer.should_stop = True
        return point
