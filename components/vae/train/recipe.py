"""The autoencoder's recipe per profile: which preset, how long, how it learns. Kept apart from
the model code so that reading params.yaml does not import diffusers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.overrides import with_overrides
from components.training.settings import OptimizerSettings, TrainerSettings
from components.vae.config import VAE_PRESETS


@dataclass(frozen=True)
class VaeRecipe:
    preset: str = "tiny_f2"  # chosen by the curve: docs/results.md "The autoencoder"
    pretrained: str | None = None  # a diffusers VAE directory or hub id: loaded, not trained
    trainer: TrainerSettings = field(default_factory=lambda: TrainerSettings(max_steps=50_000, max_minutes=3.0))
    optimizer: OptimizerSettings = field(
        default_factory=lambda: OptimizerSettings(
            lr=1e-3, weight_decay=0.0, betas=(0.9, 0.999), warmup_steps=20, min_lr_ratio=1.0
        )
    )
    batch_size: int = 32
    kl_weight: float = 1e-6
    curve_every_minutes: float = 1.0  # a point of the held-out curve every this many training minutes
    max_images: int = 50_000  # images held in memory to learn from (64 x 64 x 3 bytes each)
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.pretrained is None and self.preset not in VAE_PRESETS:
            raise ValueError(f"unknown VAE preset {self.preset!r}; known presets: {list(VAE_PRESETS)}")
        if self.batch_size < 1 or self.max_images < 1:
            raise ValueError(f"batch_size ({self.batch_size}) and max_images ({self.max_images}) must be >= 1")
        if self.kl_weight < 0:
            raise ValueError(f"kl_weight must be >= 0, got {self.kl_weight}")


VAE_RECIPES = {
    # 2.5 minutes, not the default 3, for the main job's 20 minutes on the slowest 2-core CPU
    # measured (docs/benchmarks.md "The main job"); the quick generators draw no shapes yet, so
    # what the last half minute adds (a few points of objects kept) shows nowhere downstream.
    "quick": VaeRecipe(trainer=TrainerSettings(max_steps=50_000, max_minutes=2.5)),
    # Past 99% of held-out objects kept at 6 minutes of this CPU in bf16; quick's 2.5 minutes keep
    # 44% on the slowest Xeon measured (91% in 3 minutes on a faster one).
    "paper": VaeRecipe(trainer=TrainerSettings(max_steps=50_000, max_minutes=10.0), curve_every_minutes=2.0),
}


def resolve_vae_recipe(profile: str, overrides: Mapping[str, Any] | None = None) -> VaeRecipe:
    if profile not in VAE_RECIPES:
        raise ValueError(f"unknown VAE recipe {profile!r}; known: {sorted(VAE_RECIPES)}")
    return with_overrides(VAE_RECIPES[profile], overrides, what="VAE")
