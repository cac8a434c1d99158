"""Training (or loading) the generator's autoencoder, measuring it and saving it as a diffusers
model directory: what the `vae` asset runs.

It never sees a caption, so it is trained once per dataset and shared by every caption mix.
The held-out images are the curated held-out set (disjoint from the web images it learns
from); its report is the share of their objects that the scene parser reads the same after
the round trip, as a curve over training minutes (train/module.py: ReconstructionCurve).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import Logger

from components.data.image_decode import decode_image
from components.data.shard_reader import ReadStats, read_shard
from components.io.atomic import write_dir_atomically
from components.io.paths import check_output_dir
from components.training.fit import FitResult, fit
from components.vae.checkpoint import MANIFEST, load_vae
from components.vae.metrics import ReconstructionReport, reconstruction_report
from components.vae.model import (
    build_vae,
    downsampling_factor,
    latent_scaling_factor,
    to_pixels,
)
from components.vae.train.module import ImageArray, ReconstructionCurve, VaeData, VaeModule
from components.vae.train.recipe import VaeRecipe


@dataclass(frozen=True)
class VaeResult:
    out_dir: Path
    fit: FitResult | None  # None when loaded
    report: ReconstructionReport
    curve: list[dict[str, float]]
    scaling_factor: float
    factor: int


def train_vae(
    recipe: VaeRecipe,
    *,
    images: np.ndarray,
    heldout: np.ndarray,
    work_dir: Path,
    out_dir: Path,
    seed: int = 0,
    logger: Logger | bool = False,
    resume: bool = True,
    callbacks: Sequence[L.Callback] = (),
    stop_at_objects_kept: float | None = None,
) -> VaeResult:
    """Trains a new autoencoder of the recipe's preset on `images` (N, 64, 64, 3) uint8 (or
    loads `recipe.pretrained`), measures it on `heldout`, sets its latent scaling factor and
    saves it to `out_dir` as a diffusers model directory with a manifest. A run killed mid-way
    resumes from work_dir's last checkpoint (`resume`); a run that completes deletes its
    checkpoints, so the next call trains afresh. stop_at_objects_kept: end training at the
    first point of the curve that keeps that share of the held-out objects (else the recipe's
    budget ends it)."""
    check_output_dir(out_dir)
    check_output_dir(work_dir)
    if len(heldout) == 0:
        raise ValueError("no held-out images to measure the autoencoder on")
    images = images[: recipe.max_images]
    result: FitResult | None = None
    curve: list[dict[str, float]] = []
    if recipe.pretrained:
        vae = load_vae(recipe.pretrained)
    else:
        torch.manual_seed(seed)
        vae = build_vae(recipe.preset)
        module = VaeModule(vae, recipe.optimizer, total_steps=recipe.trainer.max_steps, kl_weight=recipe.kl_weight)
        data = VaeData(ImageArray(images), batch_size=recipe.batch_size, seed=seed, num_workers=recipe.num_workers)
        tracker = ReconstructionCurve(heldout, recipe.curve_every_minutes, stop_at_objects_kept)
        result = fit(
            module,
            data,
            recipe.trainer,
            work_dir,
            seed=seed,
            validate=False,
            logger=logger,
            resume=resume,
            cpu_bf16_ready=True,  # 2.2x fp32's images per second on an AMX CPU, 3.3x channels-last (docs/benchmarks.md)
            callbacks=[tracker, *callbacks],
        )
        curve = tracker.points
        if not result.is_global_zero:  # another rank of a data-parallel run: rank 0 measures and writes
            unmeasured = ReconstructionReport(float("nan"), float("nan"), float("nan"), float("nan"), 0)
            return VaeResult(out_dir, result, unmeasured, curve, float("nan"), downsampling_factor(vae))
    vae.to(memory_format=torch.contiguous_format)  # pyright: ignore[reportCallIssue]; in place, as diffusers saves it
    vae.eval()
    report = reconstruction_report(vae, heldout)
    scaling = latent_scaling_factor(vae, to_pixels(images[:512]))
    vae.register_to_config(scaling_factor=scaling)
    manifest = {
        "preset": None if recipe.pretrained else recipe.preset,
        "pretrained": recipe.pretrained,
        "downsampling_factor": downsampling_factor(vae),
        "latent_channels": int(vae.config["latent_channels"]),
        "scaling_factor": scaling,
        "steps": result.steps if result else 0,
        "minutes": result.minutes if result else 0.0,
        "report": report.as_dict(),
        "curve": curve,
        "stop_at_objects_kept": stop_at_objects_kept,
        "recipe": asdict(recipe),
    }

    def fill(staging: Path) -> None:
        vae.save_pretrained(staging)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))

    write_dir_atomically(out_dir, fill, overwrite=True)
    if result is not None:
        shutil.rmtree(result.checkpoint_dir, ignore_errors=True)  # complete: a rerun starts afresh
    return VaeResult(out_dir, result, report, curve, scaling, downsampling_factor(vae))


@dataclass
class LoadedImages:
    images: np.ndarray  # (N, size, size, 3) uint8
    skipped: Counter[str]  # reason -> count: what read_shard skipped, and images that would not decode


def load_shard_images(tars: Sequence[Path], size: int, max_images: int) -> LoadedImages:
    """The first `max_images` images of the shards, decoded and resized to size x size; a
    broken member or an undecodable image is skipped and counted, never fatal."""
    stats = ReadStats()
    images: list[np.ndarray] = []
    skipped: Counter[str] = Counter()
    for tar in tars:
        for sample in read_shard(tar, stats=stats, decode=False):
            try:
                images.append(decode_image(sample.image, size)[0])
            except Exception as error:  # PIL raises many types for bad bytes
                skipped[f"undecodable_image: {type(error).__name__}"] += 1
            if len(images) >= max_images:
                break
        if len(images) >= max_images:
            break
    skipped.update(stats.skipped)
    if not images:
        raise ValueError(f"no decodable images in {len(tars)} shard(s) to train the autoencoder on")
    return LoadedImages(np.stack(images), skipped)


def heldout_array(items: Sequence[Any]) -> np.ndarray:
    """Curated items (components/captioner/train/data.py: CuratedItem) -> (N, 64, 64, 3) uint8."""
    return np.stack([np.asarray(i.image, dtype=np.uint8) for i in items])
