"""The generator's recipe per profile: which U-Net, which objective, which text encoder, how long
and how it learns, how it samples and how often it is judged. Kept apart from the model code so
that reading params.yaml does not import diffusers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.overrides import with_overrides
from components.training.settings import OptimizerSettings, TrainerSettings

OBJECTIVE_NAMES = ("epsilon", "v_zero_snr", "epsilon_min_snr", "v_zero_snr_min_snr")  # objective.py's
SCHEDULER_NAMES = ("ddim", "dpm_solver", "euler")  # pipeline.py's
EVAL_CATEGORIES = ("single_object", "two_objects", "spatial", "counting")  # the claim's categories


@dataclass(frozen=True)
class ImageSamplingSettings:
    scheduler: str = "ddim"
    steps: int = 30
    guidance_scale: float = 4.0
    guidance_rescale: float | None = None  # None: the objective's (0.7 with a zero-terminal-SNR schedule)

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULER_NAMES:
            raise ValueError(f"unknown scheduler {self.scheduler!r}; known: {SCHEDULER_NAMES}")
        if self.steps < 1:
            raise ValueError(f"sampling steps must be >= 1, got {self.steps}")
        if self.guidance_scale < 0:
            raise ValueError(f"guidance_scale must be >= 0, got {self.guidance_scale}")
        if self.guidance_rescale is not None and not 0.0 <= self.guidance_rescale <= 1.0:
            raise ValueError(f"guidance_rescale must be in [0, 1] or None, got {self.guidance_rescale}")


@dataclass(frozen=True)
class GeneratorRecipe:
    unet: str = "tiny"  # presets/unet_<name>.json
    objective: str = "v_zero_snr"  # chosen by measurement: docs/results.md "The objective"
    text_encoder: str = "all-MiniLM-L6-v2"  # the bundled default, or a path / hub id
    max_tokens: int = 128  # the encoder's context; longer captions are truncated and counted
    max_rows: int | None = None  # rows of the mix cached and trained on (None: all)
    trainer: TrainerSettings = field(
        default_factory=lambda: TrainerSettings(max_steps=1_000_000, max_minutes=30.0, checkpoint_every_n_steps=200)
    )
    optimizer: OptimizerSettings = field(
        default_factory=lambda: OptimizerSettings(
            lr=5e-4, weight_decay=0.01, betas=(0.9, 0.999), warmup_steps=100, min_lr_ratio=0.1
        )
    )
    batch_size: int = 32
    caption_dropout: float = 0.1  # captions replaced by "" for classifier-free guidance
    ema_decay: float = 0.999
    sampling: ImageSamplingSettings = field(default_factory=ImageSamplingSettings)
    eval_every_minutes: float | None = None  # a judged point of the curve every this many minutes; None: at the end
    eval_prompts: int = 8  # prompts per category (EVAL_CATEGORIES), each in its short and long form
    grid_prompts: int = 8  # fixed prompts whose samples make the grid
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVE_NAMES:
            raise ValueError(f"unknown objective {self.objective!r}; known: {OBJECTIVE_NAMES}")
        if self.batch_size < 1 or self.eval_prompts < 1 or self.grid_prompts < 1 or self.max_tokens < 2:
            raise ValueError(
                f"batch_size ({self.batch_size}), eval_prompts ({self.eval_prompts}) and grid_prompts "
                f"({self.grid_prompts}) must be >= 1, max_tokens ({self.max_tokens}) >= 2"
            )
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError(f"max_rows must be >= 1 or None, got {self.max_rows}")
        if not 0.0 <= self.caption_dropout < 1.0 or not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(
                f"caption_dropout ({self.caption_dropout}) and ema_decay ({self.ema_decay}) must be in [0, 1)"
            )
        if self.eval_every_minutes is not None and self.eval_every_minutes <= 0:
            raise ValueError(f"eval_every_minutes must be > 0 or None, got {self.eval_every_minutes}")


GENERATOR_RECIPES = {
    # The main job's two generators, within its 20 minutes: 30 seconds each on 2 cores is ~20
    # steps of 32 on the slowest Xeon measured, the wiring and a first look, not a generator
    # (docs/results.md "The generator"); only about the rows it can see (640: 20 batches) are
    # cached (encoding a caption costs about what a training example does), and 3 prompts per
    # category are judged (an image costs half a second to sample).
    "quick": GeneratorRecipe(
        max_rows=640,
        trainer=TrainerSettings(max_steps=1_000_000, max_minutes=0.5, checkpoint_every_n_steps=200),
        eval_prompts=3,
    ),
    # The ablation's generators: an hour each on this CPU (docs/results.md "The claim").
    "paper": GeneratorRecipe(
        unet="small",
        trainer=TrainerSettings(max_steps=1_000_000, max_minutes=60.0, checkpoint_every_n_steps=500),
        eval_every_minutes=15.0,
        eval_prompts=24,
    ),
}


def resolve_generator_recipe(profile: str, overrides: Mapping[str, Any] | None = None) -> GeneratorRecipe:
    if profile not in GENERATOR_RECIPES:
        raise ValueError(f"unknown generator recipe {profile!r}; known: {sorted(GENERATOR_RECIPES)}")
    return with_overrides(GENERATOR_RECIPES[profile], overrides, what="generator")
