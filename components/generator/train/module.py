"""Training the denoiser with Lightning: a thin module over the objective's loss, an EMA copy of
the weights (what is sampled and exported), classifier-free-guidance caption dropout, and the
cached training set as batches.

Each step: latents x0 (B, C, h, w) and caption embeddings (B, L, D) from the cache; a share
`caption_dropout` of the captions replaced by the empty caption's embeddings (so the model
also learns the unconditional prediction that guidance extrapolates from); t uniform over the
schedule; x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise; the U-Net's output against the
objective's target (objective.py). On several ranks each trains its rows of the global batch
(training/shuffled_loader.py) and draws the whole global batch's dropout, noise and timesteps,
keeping its rows (training/distributed.py: global_draw), so a row's draws, and the trained
weights, are those of one process with the global batch.
"""

from __future__ import annotations

import copy
from dataclasses import asdict

import lightning as L
import numpy as np
import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from torch.utils.data import DataLoader, Dataset

from components.generator.objective import Objective, diffusion_loss
from components.generator.train.data import TrainingSet
from components.training.distributed import global_draw
from components.training.fit import time_fraction
from components.training.schedule import adamw_with_schedule
from components.training.settings import OptimizerSettings
from components.training.shuffled_loader import data_rank, shuffled_loader


class GeneratorModule(L.LightningModule):
    empty_caption: torch.Tensor  # (L, D) buffers, registered in __init__
    alphas_cumprod: torch.Tensor  # (T,)

    def __init__(
        self,
        unet: UNet2DConditionModel,
        objective: Objective,
        optimizer: OptimizerSettings,
        *,
        empty_caption: np.ndarray,
        total_steps: int,
        caption_dropout: float = 0.1,
        ema_decay: float = 0.999,
    ) -> None:
        """empty_caption: (L, D) embeddings of "" (the unconditional context)."""
        super().__init__()
        if not 0.0 <= caption_dropout < 1.0 or not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"caption_dropout ({caption_dropout}) and ema_decay ({ema_decay}) must be in [0, 1)")
        # hparams.update, not save_hyperparameters: Lightning's compares every __init__ argument
        # with `==`, which an array argument cannot answer
        self.hparams.update(
            {
                "unet": dict(unet.config),
                "objective": asdict(objective),
                "optimizer": asdict(optimizer),
                "total_steps": total_steps,
                "caption_dropout": caption_dropout,
                "ema_decay": ema_decay,
            }
        )
        # Channels-last: oneDNN's convolutions run 1.07x (small) to 1.08x (tiny) faster that way
        # in fp32 on this CPU, and fp32 beats bf16 autocast at these widths (docs/benchmarks.md).
        unet.to(memory_format=torch.channels_last)  # pyright: ignore[reportCallIssue]; in place
        self.unet = unet.train()
        # In the checkpoint, so resumes keep it. Left in train mode (the U-Net has no dropout or
        # batch statistics) so that Lightning does not warn about modules in eval mode.
        self.ema = copy.deepcopy(unet).requires_grad_(False)
        self.register_buffer("empty_caption", torch.from_numpy(np.asarray(empty_caption, dtype=np.float32)))
        scheduler = objective.scheduler()
        self.register_buffer("alphas_cumprod", scheduler.alphas_cumprod.clone().float(), persistent=False)
        self.objective, self.optimizer_settings, self.total_steps = objective, optimizer, total_steps
        self.caption_dropout, self.ema_decay = caption_dropout, ema_decay
        self.num_timesteps = objective.num_train_timesteps

    def forward_loss(self, latents: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        batch, device = len(latents), latents.device
        latents = latents.float().contiguous(memory_format=torch.channels_last)
        drop = global_draw(lambda n: torch.rand(n, device=device), batch) < self.caption_dropout
        context = torch.where(drop[:, None, None], self.empty_caption.to(context.dtype), context).float()
        # Filled in channels-last memory order, as randn_like(latents) fills the batch's own.
        shape = latents.shape[1:]
        noise = global_draw(
            lambda n: torch.empty((n, *shape), device=device, memory_format=torch.channels_last).normal_(), batch
        )
        t = global_draw(lambda n: torch.randint(0, self.num_timesteps, (n,), device=device), batch)
        abar = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        noisy = abar.sqrt() * latents + (1 - abar).sqrt() * noise
        prediction = self.unet(noisy, t, encoder_hidden_states=context).sample
        return diffusion_loss(self.objective, self.alphas_cumprod, prediction, latents, noise, t)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.forward_loss(*batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch[0]))
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self.update_ema()

    @torch.no_grad()
    def update_ema(self) -> None:
        """EMA with a warm-up: the decay is min(ema_decay, (1 + n) / (10 + n)) at update n, so the
        average does not drag the random initialisation along for thousands of steps."""
        n = self.global_step
        decay = min(self.ema_decay, (1 + n) / (10 + n))
        for average, current in zip(self.ema.parameters(), self.unet.parameters(), strict=True):
            average.lerp_(current.detach(), 1.0 - decay)

    def configure_optimizers(self):
        optimizer, scheduler = adamw_with_schedule(
            self.unet, self.optimizer_settings, self.total_steps, lambda: time_fraction(self)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class LatentCaptions(Dataset):
    """A TrainingSet's rows -> (latents (C, h, w), embeddings (L, D)) float32 tensors."""

    def __init__(self, training_set: TrainingSet) -> None:
        if len(training_set) == 0:
            raise ValueError("no rows to train the generator on")
        self.set = training_set

    def __len__(self) -> int:
        return len(self.set)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        latents = torch.from_numpy(np.asarray(self.set.latents[index], dtype=np.float32))
        context = torch.from_numpy(np.asarray(self.set.embeddings[index], dtype=np.float32))
        return latents, context


class GeneratorData(L.LightningDataModule):
    def __init__(self, rows: LatentCaptions, *, batch_size: int, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        self.rows, self.batch_size, self.seed, self.num_workers = rows, batch_size, seed, num_workers

    def train_dataloader(self) -> DataLoader:
        """This rank's rows of each global batch of `batch_size` (all of them on one process)."""
        rank, world_size = data_rank(self)
        return shuffled_loader(
            self.rows,
            batch_size=self.batch_size,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            num_workers=self.num_workers,
        )
