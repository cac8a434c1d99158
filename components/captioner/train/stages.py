"""The captioner's two stages as functions the orchestration layer calls.

pretrain: a BPE tokenizer over the web alt-text and the curated training captions, then
CoCa on the web images with their alt-text (contrastive + captioning).
finetune: from the pretrained weights (or from scratch), CoCa on the curated set's short
and descriptive captions, then judged on the held-out curated images.
Each writes a captioner directory (safetensors + JSON config + tokenizer) atomically. A
stage killed mid-way resumes from work_dir/checkpoints on its next call; a stage that
completes deletes them, so the next call trains afresh.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.loggers import Logger

from components.data.shards import read_shard
from components.captioner.checkpoint import load_captioner, save_captioner
from components.captioner.config import CocaConfig
from components.captioner.hf_backend import HFCaptioner, HFCaptionerConfig
from components.captioner.train.curriculum import ShortCaptionsFirst
from components.captioner.train.data import CaptionerDataModule, CaptionerDataSettings, load_curated
from components.evaluation.captioner import DecodeSettings, evaluate_captioner
from components.captioner.train.module import CaptionerModule, OptimizerSettings
from components.captioner.train.recipe import CaptionerRecipe, StageRecipe
from components.training.fit import FitResult, TrainerSettings, fit, train_tokenizer


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


def build_module(config: CocaConfig | HFCaptionerConfig, stage: StageRecipe,
                 model: HFCaptioner | None = None) -> CaptionerModule:
    """A module for `stage`; a backend without a contrastive head trains on captioning alone."""
    optimizer = OptimizerSettings(lr=stage.lr, warmup_steps=stage.warmup_steps, total_steps=stage.max_steps)
    contrastive = stage.contrastive_weight if model is None or model.has_contrastive else 0.0
    word = stage.word_weight if model is None else 0.0  # a transformers backend has no word head
    return CaptionerModule(config, optimizer, contrastive_weight=contrastive, caption_weight=stage.caption_weight,
                           word_weight=word, model=model)


def trainer_settings(stage: StageRecipe, seed: int, **kwargs: Any) -> TrainerSettings:
    return TrainerSettings(max_steps=stage.max_steps, max_minutes=stage.max_minutes, seed=seed, **kwargs)


def pretrain(
    recipe: CaptionerRecipe, *, web_shards: Sequence[Path], curated_shards: Sequence[Path], work_dir: Path,
    out_dir: Path, seed: int = 0, logger: Logger | bool = False, trainer_kwargs: dict[str, Any] | None = None,
    data_workers: int = 0, resume: bool = True,
) -> StageResult:
    """`data_workers`: DataLoader worker processes (a machine setting, not the recipe's: on a GPU
    the images' decoding and augmentation need them to keep up). `resume`: continue from
    work_dir's last checkpoint when there is one; False trains afresh."""
    if recipe.pretrain is None:
        raise ValueError("this recipe has no pretraining stage (pretrain=None)")
    tokenizer = train_tokenizer(tokenizer_texts(web_shards, curated_shards), recipe.vocab_size)
    config = CocaConfig.from_preset(recipe.preset, vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id,
                                    **recipe.model_overrides)
    module = build_module(config, recipe.pretrain)
    data = CaptionerDataModule(
        stage="pretrain", tokenizer=tokenizer, max_length=config.context_length,
        settings=CaptionerDataSettings(batch_size=recipe.pretrain.batch_size, num_workers=data_workers),
        web_shards=web_shards,
        curated_shards=curated_shards, seed=seed,
    )
    result = fit(module, data, trainer_settings(recipe.pretrain, seed, **(trainer_kwargs or {})), work_dir,
                 logger=logger, resume=resume)
    extra = {"stage": "pretrain", "steps": result.steps, "minutes": result.minutes, "precision": result.precision,
             "recipe": recipe.to_dict()}
    save_captioner(out_dir, module.model, config, tokenizer, extra, overwrite=True)
    shutil.rmtree(result.checkpoint_dir, ignore_errors=True)  # complete: a rerun starts afresh
    return StageResult(out_dir, result, {}, {}, [], [])


def finetune(
    recipe: CaptionerRecipe, *, init_dir: Path | None, curated_shards: Sequence[Path], work_dir: Path,
    out_dir: Path, seed: int = 0, logger: Logger | bool = False, web_shards: Sequence[Path] = (),
    decode: DecodeSettings = DecodeSettings(), trainer_kwargs: dict[str, Any] | None = None,
    data_workers: int = 0, resume: bool = True, callbacks: Sequence[L.Callback] = (),
) -> StageResult:
    """Fine-tunes from `init_dir` (a pretrained captioner) or, when None, from scratch with a
    tokenizer trained here, or, when the recipe names `hf_model`, that transformers model
    (captioning loss only: it has no contrastive head); then judges the held-out images.
    `data_workers` and `resume` as in `pretrain`; `callbacks` join the trainer's (a study's
    judge along the way)."""
    stage = recipe.finetune
    if recipe.hf_model is not None:
        captioner = HFCaptioner.from_pretrained(recipe.hf_model)
        module = build_module(captioner.config, stage, model=captioner)
        tokenizer, context_length, initialised_from = captioner.tokenizer, captioner.config.context_length, \
            recipe.hf_model

        def save(extra: dict[str, Any]) -> None:
            captioner.save_pretrained(out_dir, overwrite=True, extra=extra)
    else:
        if init_dir is not None:
            model, config, tokenizer = load_captioner(init_dir)
            module = build_module(config, stage)
            module.model.load_state_dict(model.state_dict())
        else:
            tokenizer = train_tokenizer(tokenizer_texts(web_shards, curated_shards), recipe.vocab_size)
            config = CocaConfig.from_preset(recipe.preset, vocab_size=tokenizer.vocab_size,
                                            pad_token_id=tokenizer.pad_id, **recipe.model_overrides)
            module = build_module(config, stage)
        context_length, initialised_from = config.context_length, str(init_dir) if init_dir else None

        def save(extra: dict[str, Any]) -> None:
            save_captioner(out_dir, module.model, config, tokenizer, extra, overwrite=True)

    data = CaptionerDataModule(
        stage="finetune", tokenizer=tokenizer, max_length=context_length,
        settings=CaptionerDataSettings(batch_size=stage.batch_size, long_share=stage.long_share,
                                       augment=stage.augment, grouped_batches=stage.grouped_batches,
                                       num_workers=data_workers),
        curated_shards=curated_shards, seed=seed,
    )
    curriculum = [ShortCaptionsFirst(stage.short_first, stage.long_share)] if stage.short_first > 0 else []
    result = fit(module, data, trainer_settings(stage, seed, **(trainer_kwargs or {})), work_dir, logger=logger,
                 callbacks=[*curriculum, *callbacks], resume=resume)
    heldout = data.val_items[: recipe.eval_images]
    metrics, written = evaluate_captioner(module.model, tokenizer, heldout, decode) if heldout else ({}, {})
    save({"stage": "finetune", "steps": result.steps, "minutes": result.minutes, "precision": result.precision,
          "recipe": recipe.to_dict(), "initialised_from": initialised_from, "metrics": metrics})
    shutil.rmtree(result.checkpoint_dir, ignore_errors=True)  # complete: a rerun starts afresh
    return StageResult(out_dir, result, metrics, written, [i.image for i in heldout], [i.key for i in heldout])
