"""The captioner's two stages as functions the orchestration layer calls.

pretrain: a BPE tokenizer over the web alt-text and the curated training captions, then
CoCa on the web images with their alt-text (contrastive + captioning).
finetune: from a saved captioner (any backend), a transformers model, or a new CoCa,
trained on the curated set's short and descriptive captions, then judged on the held-out
curated images by the evaluation its caller hands it (evaluation sits above the models, so
the stage takes it as a callable rather than importing it).
Each writes a captioner directory atomically (`Captioner.save`). A stage killed mid-way
resumes from work_dir/checkpoints on its next call; a stage that completes deletes them,
so the next call trains afresh. On several ranks (README, Data-parallel training) rank 0
judges and writes; the other ranks return once trained, with nothing judged or written.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.loggers import Logger

from components.captioner.coca_captioner import CocaCaptioner
from components.captioner.hf.captioner import HFCaptioner
from components.captioner.interface import Captioner
from components.captioner.loading import load_captioner
from components.captioner.train.curriculum import ShortCaptionsFirst
from components.captioner.train.data import CaptionerDataModule
from components.captioner.train.module import CaptionerModule
from components.captioner.train.recipe import CaptionerRecipe, StageRecipe
from components.data.curated import CuratedItem, load_curated
from components.data.shard_reader import read_shard
from components.io.paths import check_output_dir
from components.text.tokenizer import CaptionTokenizer
from components.training.fit import FitResult, fit

# (captioner, held-out items) -> (figures such as {"long/object_recall": ...}, caption type -> the
# captions written for the items, in their order); evaluation.captioner.evaluate_captioner is one.
HeldoutEvaluation = Callable[[Captioner, Sequence[CuratedItem]], tuple[dict[str, float], dict[str, list[str]]]]


@dataclass
class StageResult:
    model_dir: Path
    fit: FitResult
    metrics: dict[str, float]
    captions: dict[str, list[str]]  # caption type -> the captions written for the evaluated images
    images: list[np.ndarray]  # the evaluated images, (H, W, 3) uint8, in the same order
    keys: list[str]


def tokenizer_texts(web_shards: Sequence[Path], curated_shards: Sequence[Path]) -> list[str]:
    texts = [sample.caption for path in web_shards for sample in read_shard(path, decode=False)]
    for item in load_curated(curated_shards, "train"):
        texts.extend((item.short, item.long))
    return texts


def new_coca(recipe: CaptionerRecipe, web_shards: Sequence[Path], curated_shards: Sequence[Path]) -> CocaCaptioner:
    """A CoCa of the recipe's preset with a byte-level BPE trained over the captions it will read and write."""
    tokenizer = CaptionTokenizer.train(tokenizer_texts(web_shards, curated_shards), vocab_size=recipe.vocab_size)
    return CocaCaptioner.from_preset(recipe.preset, tokenizer, **recipe.model_overrides)


def build_module(captioner: Captioner, stage: StageRecipe) -> CaptionerModule:
    """A module for `stage`; a captioner without a contrastive head trains on captioning alone."""
    contrastive = stage.contrastive_weight if captioner.has_contrastive else 0.0
    return CaptionerModule(
        captioner,
        stage.optimizer,
        total_steps=stage.trainer.max_steps,
        contrastive_weight=contrastive,
        caption_weight=stage.caption_weight,
        word_weight=stage.word_weight,
    )


def _train(
    captioner: Captioner,
    stage: StageRecipe,
    data: CaptionerDataModule,
    work_dir: Path,
    *,
    seed: int,
    logger: Logger | bool,
    resume: bool,
    callbacks: Sequence[L.Callback] = (),
) -> FitResult:
    module = build_module(captioner, stage)
    data.setup("fit")
    return fit(
        module,
        data,
        stage.trainer,
        work_dir,
        seed=seed,
        validate=bool(data.val_items),
        cpu_bf16_ready=captioner.cpu_bf16_ready,
        logger=logger,
        resume=resume,
        callbacks=callbacks,
    )


def pretrain(
    recipe: CaptionerRecipe,
    *,
    web_shards: Sequence[Path],
    curated_shards: Sequence[Path],
    work_dir: Path,
    out_dir: Path,
    seed: int = 0,
    logger: Logger | bool = False,
    resume: bool = True,
) -> StageResult:
    """`resume`: continue from work_dir's last checkpoint when there is one; False trains afresh."""
    if recipe.pretrain is None:
        raise ValueError("this recipe has no pretraining stage (pretrain=None)")
    check_output_dir(out_dir)  # before minutes of training, not after them
    check_output_dir(work_dir)
    captioner = new_coca(recipe, web_shards, curated_shards)
    data = CaptionerDataModule(
        stage="pretrain",
        tokenizer=captioner.tokenizer,
        max_length=captioner.context_length,
        image_size=captioner.image_size,
        settings=recipe.pretrain.data,
        web_shards=web_shards,
        curated_shards=curated_shards,
        seed=seed,
    )
    result = _train(captioner, recipe.pretrain, data, work_dir, seed=seed, logger=logger, resume=resume)
    if not result.is_global_zero:
        return StageResult(out_dir, result, {}, {}, [], [])
    captioner.save(
        out_dir,
        extra={
            "stage": "pretrain",
            "steps": result.steps,
            "minutes": result.minutes,
            "precision": result.precision,
            "recipe": recipe.to_dict(),
        },
        overwrite=True,
    )
    shutil.rmtree(result.checkpoint_dir, ignore_errors=True)  # complete: a rerun starts afresh
    return StageResult(out_dir, result, {}, {}, [], [])


def initial_captioner(
    recipe: CaptionerRecipe,
    init_dir: Path | None,
    web_shards: Sequence[Path],
    curated_shards: Sequence[Path],
) -> tuple[Captioner, str | None]:
    """What fine-tuning starts from, and where it came from: the recipe's transformers model,
    a saved captioner of any backend (init_dir), or a new CoCa."""
    if recipe.hf_model is not None:
        return HFCaptioner.from_pretrained(recipe.hf_model), recipe.hf_model
    if init_dir is not None:
        return load_captioner(init_dir), str(init_dir)
    return new_coca(recipe, web_shards, curated_shards), None


def finetune(
    recipe: CaptionerRecipe,
    *,
    init_dir: Path | None,
    curated_shards: Sequence[Path],
    work_dir: Path,
    out_dir: Path,
    seed: int = 0,
    logger: Logger | bool = False,
    web_shards: Sequence[Path] = (),
    evaluate: HeldoutEvaluation | None = None,
    resume: bool = True,
    callbacks: Sequence[L.Callback] = (),
) -> StageResult:
    """Fine-tunes `initial_captioner` on the curated set, then judges the first
    `recipe.eval_images` held-out images with `evaluate` (None: no figures, no captions), and
    saves the figures in the captioner's manifest. `resume` as in `pretrain`; `callbacks` join
    the trainer's (a study's judge along the way)."""
    stage = recipe.finetune
    check_output_dir(out_dir)  # before minutes of training, not after them
    check_output_dir(work_dir)
    captioner, initialised_from = initial_captioner(recipe, init_dir, web_shards, curated_shards)
    data = CaptionerDataModule(
        stage="finetune",
        tokenizer=captioner.tokenizer,
        max_length=captioner.context_length,
        image_size=captioner.image_size,
        settings=stage.data,
        curated_shards=curated_shards,
        seed=seed,
    )
    curriculum = [ShortCaptionsFirst(stage.short_first, stage.data.long_share)] if stage.short_first > 0 else []
    result = _train(
        captioner, stage, data, work_dir, seed=seed, logger=logger, resume=resume, callbacks=[*curriculum, *callbacks]
    )
    if not result.is_global_zero:
        return StageResult(out_dir, result, {}, {}, [], [])
    heldout = data.val_items[: recipe.eval_images]
    metrics, written = evaluate(captioner, heldout) if evaluate is not None and heldout else ({}, {})
    captioner.save(
        out_dir,
        extra={
            "stage": "finetune",
            "steps": result.steps,
            "minutes": result.minutes,
            "precision": result.precision,
            "recipe": recipe.to_dict(),
            "initialised_from": initialised_from,
            "metrics": metrics,
        },
        overwrite=True,
    )
    shutil.rmtree(result.checkpoint_dir, ignore_errors=True)  # complete: a rerun starts afresh
    return StageResult(out_dir, result, metrics, written, [i.image for i in heldout], [i.key for i in heldout])
