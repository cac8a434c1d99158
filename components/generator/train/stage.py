"""Training a generator on one caption mix, judging it, and saving it as a diffusers pipeline
directory with a manifest: what the `generator` asset (one partition per mix) runs.

The EMA weights are what is judged and exported. A judged point of the curve every
`eval_every_minutes`, kept across resumes, with a grid of its samples written to
work_dir/grids/; a final judgement of the exported pipeline; then the checkpoints go, so a
rerun trains afresh. The judge is the caller's (evaluation sits above the models:
evaluation.generator_eval.prompt_judge samples prompts of known truth and checks every clause).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import lightning as L
import numpy as np
import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from lightning.pytorch.loggers import Logger

from components.generator.judging import Figure, GeneratorJudge, Judgement, Sampler
from components.generator.model import build_unet
from components.generator.objective import Objective, resolve_objective
from components.generator.pipeline import assemble_pipeline, generate, sampling_scheduler
from components.generator.text_encoder import TextEncoder
from components.generator.train.data import TrainingSet
from components.generator.train.module import GeneratorData, GeneratorModule, LatentCaptions
from components.generator.train.recipe import GeneratorRecipe
from components.io.atomic import write_dir_atomically
from components.io.paths import check_output_dir
from components.training.fit import LAST_CHECKPOINT, FitResult, fit
from components.training.minute_curve import MinuteCurve
from components.vae.model import Vae

MANIFEST = "generator.json"


def sampler(pipe, recipe: GeneratorRecipe, objective: Objective, seed: int = 0) -> Sampler:
    settings = recipe.sampling
    rescale = settings.guidance_rescale if settings.guidance_rescale is not None else objective.guidance_rescale

    def sample(prompts: list[str]) -> np.ndarray:
        return generate(
            pipe,
            prompts,
            seed=seed,
            steps=settings.steps,
            guidance_scale=settings.guidance_scale,
            guidance_rescale=rescale,
        )

    return sample


class GeneratorCurve(MinuteCurve):
    """The judge's figures of the EMA weights every `every_minutes`."""

    prefix = "eval"

    def __init__(self, every_minutes: float, judge: Callable[[UNet2DConditionModel], Judgement], grid_dir: Path):
        super().__init__(every_minutes)
        self.judge, self.grid_dir = judge, grid_dir

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        judged = self.judge(cast(GeneratorModule, pl_module).ema)
        self.grid_dir.mkdir(parents=True, exist_ok=True)
        judged.grid.save(self.grid_dir / f"step_{trainer.global_step:07d}.png")
        return {name: figure.value for name, figure in judged.figures.items()}


@dataclass(frozen=True)
class GeneratorResult:
    out_dir: Path
    fit: FitResult
    figures: Mapping[str, Figure]  # the judge's headline figures
    summary: Mapping[str, Figure]  # every figure the judge keeps
    curve: list[dict[str, float]]
    grid: Any  # PIL image of the final samples
    grid_dir: Path  # the curve's grids, one PNG per point


def train_generator(
    recipe: GeneratorRecipe,
    training_set: TrainingSet,
    *,
    vae: Vae,
    encoder: TextEncoder,
    judge: GeneratorJudge,
    work_dir: Path,
    out_dir: Path,
    seed: int = 0,
    logger: Logger | bool = False,
    resume: bool = True,
    callbacks: Sequence[L.Callback] = (),
    keep_checkpoints: bool = False,
) -> GeneratorResult:
    """Trains a new U-Net of the recipe's preset on `training_set` (a mix's cached latents and
    embeddings), has `judge` judge samples of its EMA weights (the curve's points and the
    final figures, saved in the manifest), and saves the whole pipeline to
    `out_dir` with a manifest. A run killed mid-way resumes from work_dir's last checkpoint; a
    complete one deletes its checkpoints (the next trains afresh) unless `keep_checkpoints`
    (a study that extends a curve with a larger budget)."""
    check_output_dir(out_dir)
    check_output_dir(work_dir)
    objective = resolve_objective(recipe.objective)
    latent_channels, latent_size = int(training_set.latents.shape[1]), int(training_set.latents.shape[-1])
    if training_set.embeddings.shape[-1] != encoder.width:
        raise ValueError(
            f"cached embeddings are {training_set.embeddings.shape[-1]} wide but the text encoder gives {encoder.width}"
        )
    torch.manual_seed(seed)
    unet = build_unet(
        recipe.unet, sample_size=latent_size, latent_channels=latent_channels, cross_attention_dim=encoder.width
    )
    module = GeneratorModule(
        unet,
        objective,
        recipe.optimizer,
        empty_caption=training_set.empty,
        total_steps=recipe.trainer.max_steps,
        caption_dropout=recipe.caption_dropout,
        ema_decay=recipe.ema_decay,
    )
    data = GeneratorData(
        LatentCaptions(training_set), batch_size=recipe.batch_size, seed=seed, num_workers=recipe.num_workers
    )
    scheduler_config = dict(objective.scheduler().config)

    def judge_weights(weights: UNet2DConditionModel) -> Judgement:
        pipe = assemble_pipeline(vae, encoder, weights, sampling_scheduler(recipe.sampling.scheduler, scheduler_config))
        return judge(sampler(pipe, recipe, objective))

    grid_dir = work_dir / "grids"
    if not (resume and (work_dir / "checkpoints" / LAST_CHECKPOINT).is_dir()):
        shutil.rmtree(grid_dir, ignore_errors=True)  # a fresh run: the last run's grids are not its curve
    curve = [GeneratorCurve(recipe.eval_every_minutes, judge_weights, grid_dir)] if recipe.eval_every_minutes else []
    result = fit(
        module,
        data,
        recipe.trainer,
        work_dir,
        seed=seed,
        validate=False,
        logger=logger,
        resume=resume,
        cpu_bf16_ready=False,  # fp32 outpaces bf16 autocast at these widths (docs/benchmarks.md)
        callbacks=[*curve, *callbacks],
    )
    if not result.is_global_zero:  # another rank of a data-parallel run: rank 0 judges and writes
        return GeneratorResult(out_dir, result, {}, {}, [], None, grid_dir)
    ema = module.ema.to(memory_format=torch.contiguous_format).eval()  # pyright: ignore[reportCallIssue]
    final = judge_weights(ema)
    pipe = assemble_pipeline(vae, encoder, ema, sampling_scheduler(recipe.sampling.scheduler, scheduler_config))
    figures, summary = final.figures, final.summary
    manifest = {
        "recipe": asdict(recipe),
        "objective": asdict(objective),
        "steps": result.steps,
        "minutes": result.minutes,
        "examples_seen": result.steps * recipe.batch_size,
        "training_set": training_set.info,
        "figures": {name: [s.passed, s.n] for name, s in figures.items()},
        "summary": {name: [s.passed, s.n] for name, s in summary.items()},
        "curve": curve[0].points if curve else [],
    }

    def fill(staging: Path) -> None:
        pipe.save_pretrained(staging)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))

    write_dir_atomically(out_dir, fill, overwrite=True)
    if not keep_checkpoints:
        shutil.rmtree(result.checkpoint_dir, ignore_errors=True)  # complete: a rerun starts afresh
    return GeneratorResult(out_dir, result, figures, summary, curve[0].points if curve else [], final.grid, grid_dir)


def generator_manifest(out_dir: Path) -> dict[str, Any]:
    path = out_dir / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir} has no {MANIFEST}: materialize the `generator` asset first")
    return json.loads(path.read_text())


def default_rescale(pipeline_dir: Path) -> float:
    """The guidance rescale the generator was judged with (its objective's), 0 for a pipeline
    trained elsewhere."""
    path = pipeline_dir / MANIFEST
    if not path.is_file():
        return 0.0
    recipe = json.loads(path.read_text())
    rescale = recipe["recipe"]["sampling"]["guidance_rescale"]
    return float(rescale if rescale is not None else recipe["objective"]["guidance_rescale"])
