"""The trained generator as a diffusers `StableDiffusionPipeline` directory (VAE, text encoder,
tokenizer, U-Net, scheduler, model_index.json) that `DiffusionPipeline.from_pretrained(path)`
loads and runs with a prompt, without any of this project's code; and sampling from it with
the diffusers schedulers, guidance and guidance rescale.

Stable Diffusion's pipeline takes any autoencoder with its `decode` and `scaling_factor`
(AutoencoderTiny included), any transformers text encoder whose first output is the token
embeddings, and any UNet2DConditionModel; so the exported directory is the standard layout.
An empty prompt generates unconditionally: its embeddings are the ones the model learnt for
the dropped captions, and guidance between two equal predictions changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from diffusers.schedulers.scheduling_ddim import DDIMScheduler
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from components.generator.model import check_context_width
from components.generator.text_encoder import TextEncoder
from components.io.console import quiet_library_notices
from components.vae.model import Vae

if TYPE_CHECKING:  # imported where used: the pipeline module pulls in transformers' image
    # processors, which warn (no torchvision) on every load of the code location otherwise
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline

SCHEDULERS: dict[str, Any] = {  # scheduler classes (each a SchedulerMixin and a ConfigMixin)
    "ddim": DDIMScheduler,
    "dpm_solver": DPMSolverMultistepScheduler,  # DPM-Solver++ (2M) by default
    "euler": EulerDiscreteScheduler,
}
PIPELINE_PARTS = ("vae", "text_encoder", "tokenizer", "unet", "scheduler")


def sampling_scheduler(name: str, training_config: dict) -> SchedulerMixin:
    """Scheduler `name` on the training schedule's betas, prediction type and spacing."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; known: {sorted(SCHEDULERS)}")
    return SCHEDULERS[name].from_config(training_config)


def assemble_pipeline(vae: Vae, encoder: TextEncoder, unet, scheduler: SchedulerMixin) -> StableDiffusionPipeline:
    check_context_width(unet, encoder.width, f"text encoder {type(encoder.model).__name__}")
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=vae,  # pyright: ignore[reportArgumentType]; AutoencoderTiny decodes the same way
        text_encoder=encoder.model,  # pyright: ignore[reportArgumentType]
        tokenizer=encoder.tokenizer,  # pyright: ignore[reportArgumentType]
        unet=unet,
        scheduler=scheduler,  # pyright: ignore[reportArgumentType]
        safety_checker=None,  # pyright: ignore[reportArgumentType]
        feature_extractor=None,  # pyright: ignore[reportArgumentType]
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def check_pipeline_dir(path: str | Path) -> Path:
    """A directory with model_index.json and every part it names, or an error naming what is missing."""
    directory = Path(path)
    index = directory / "model_index.json"
    if not directory.is_dir():
        raise FileNotFoundError(f"no generator pipeline directory at {str(directory)!r}")
    if not index.is_file():
        raise ValueError(f"{directory} is not a diffusers pipeline directory: it has no model_index.json")
    named = json.loads(index.read_text())
    missing = [part for part in PIPELINE_PARTS if part not in named or not (directory / part).is_dir()]
    if missing:
        raise ValueError(f"generator pipeline {directory} is incomplete: missing {missing}")
    return directory


def load_pipeline(path: str | Path, scheduler: str | None = None) -> StableDiffusionPipeline:
    """An exported generator; `scheduler` swaps its sampler (ddim, dpm_solver, euler)."""
    from diffusers.pipelines.pipeline_utils import DiffusionPipeline

    quiet_library_notices()  # the class-annotation notice of the standard pipeline (README)

    pipe = cast("StableDiffusionPipeline", DiffusionPipeline.from_pretrained(check_pipeline_dir(path)))
    if scheduler is not None:
        pipe.scheduler = sampling_scheduler(scheduler, dict(pipe.scheduler.config))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def generate(
    pipe: StableDiffusionPipeline,
    prompts: Sequence[str],
    *,
    seed: int = 0,
    steps: int = 30,
    guidance_scale: float = 4.0,
    guidance_rescale: float = 0.0,
    batch_size: int = 32,
) -> np.ndarray:
    """prompts -> (N, H, W, 3) uint8 images; the same seed gives the same images. Prompt i's
    noise comes from seed + i's generator, so an image does not depend on its batch."""
    if guidance_scale < 0:
        raise ValueError(f"guidance_scale must be >= 0, got {guidance_scale}")
    if not 0.0 <= guidance_rescale <= 1.0:
        raise ValueError(f"guidance_rescale must be in [0, 1], got {guidance_rescale}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    images = []
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start : start + batch_size])
        generators = [torch.Generator().manual_seed(seed + start + i) for i in range(len(batch))]
        out = pipe(
            prompt=batch,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            guidance_rescale=guidance_rescale,
            generator=generators,
            output_type="np",
        )
        images.append(np.clip(np.round(out.images * 255), 0, 255).astype(np.uint8))  # pyright: ignore
    return np.concatenate(images) if images else np.zeros((0, 0, 0, 3), dtype=np.uint8)
