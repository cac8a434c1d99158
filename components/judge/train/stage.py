"""Training the alignment judge on a curated set, judging it, calibrating its threshold and
saving it: what the `alignment_model` asset runs.

The judge learns from the curated training pairs alone (both caption types, each with a
hard negative of its own text); it is judged on the held-out pairs, each against its own
hard negatives (is the true caption scored above every perturbed twin?), and the
threshold is set on the held-out true pairs (`calibrate_threshold`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.loggers import Logger

from components.data.curated import CuratedItem, load_curated, to_tensor
from components.io.paths import check_output_dir
from components.judge.checkpoint import save_judge
from components.judge.config import JudgeConfig
from components.judge.model import AlignmentJudge
from components.judge.perturb import hard_negatives
from components.judge.scoring import AlignmentJudgeScorer, calibrate_threshold
from components.judge.train.data import JudgeDataModule
from components.judge.train.module import JudgeModule
from components.judge.train.recipe import JudgeRecipe
from components.text.tokenizer import CaptionTokenizer
from components.training.fit import FitResult, fit


@dataclass(frozen=True)
class JudgeResult:
    out_dir: Path
    fit: FitResult
    threshold: float
    metrics: dict[str, float]  # held-out: pass share, hard-negative ranking and rejection per kind


def heldout_metrics(
    scorer: AlignmentJudgeScorer, items: Sequence[CuratedItem], threshold: float, seed: int
) -> dict[str, float]:
    """On held-out pairs: the share of true captions passing `threshold` and, per perturbation
    kind, the share of perturbed captions rejected and the share scored below their true one."""
    rng = np.random.default_rng(seed)
    images, texts = [], []
    groups: list[tuple[int, list[tuple[int, str]]]] = []  # (true caption's row, [(negative's row, kind)])
    for item in items:
        image = to_tensor(item.image)
        for caption in (item.short, item.long):
            negatives = hard_negatives(caption, rng)
            rows = range(len(texts), len(texts) + 1 + len(negatives))
            texts += [caption, *(n.text for n in negatives)]
            images += [image] * len(rows)
            groups.append((rows[0], [(row, n.kind) for row, n in zip(rows[1:], negatives, strict=True)]))
    scores = scorer.score(torch.stack(images), texts).numpy()
    metrics = {"true_pass_share": float(np.mean([scores[true] >= threshold for true, _ in groups]))}
    by_kind: dict[str, list[tuple[bool, bool]]] = {}  # kind -> [(below its true caption, rejected)]
    for true, negatives in groups:
        for row, kind in negatives:
            by_kind.setdefault(kind, []).append((bool(scores[row] < scores[true]), bool(scores[row] < threshold)))
    for kind, verdicts in sorted(by_kind.items()):
        metrics[f"{kind}/ranked_below_true"] = float(np.mean([below for below, _ in verdicts]))
        metrics[f"{kind}/rejected"] = float(np.mean([rejected for _, rejected in verdicts]))
        metrics[f"{kind}/n"] = float(len(verdicts))
    return metrics


def train_judge(
    recipe: JudgeRecipe,
    *,
    curated_shards: Sequence[Path],
    work_dir: Path,
    out_dir: Path,
    seed: int = 0,
    logger: Logger | bool = False,
    resume: bool = True,
) -> JudgeResult:
    """Trains a new judge of the recipe's preset (with a BPE over the curated captions), then
    judges and calibrates it on the held-out pairs, and saves it to `out_dir`."""
    check_output_dir(out_dir)
    check_output_dir(work_dir)
    config_probe = JudgeConfig.from_preset(recipe.preset)
    size = config_probe.towers.image_size
    train = load_curated(curated_shards, "train", image_size=size)
    heldout = load_curated(curated_shards, "heldout", image_size=size)
    if not heldout:
        raise ValueError("the curated set has no held-out pairs to calibrate the judge's threshold on")
    tokenizer = CaptionTokenizer.train([t for i in train for t in (i.short, i.long)], vocab_size=recipe.vocab_size)
    config = JudgeConfig.from_preset(recipe.preset, vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    judge = AlignmentJudge(config)
    module = JudgeModule(
        judge, recipe.optimizer, total_steps=recipe.trainer.max_steps, match_weight=recipe.match_weight
    )
    data = JudgeDataModule(
        train,
        tokenizer,
        config.towers.context_length,
        batch_size=recipe.batch_size,
        seed=seed,
        num_workers=recipe.num_workers,
        hard_negatives=recipe.hard_negatives,
    )
    result = fit(module, data, recipe.trainer, work_dir, seed=seed, validate=False, logger=logger, resume=resume)
    if not result.is_global_zero:  # another rank of a data-parallel run: rank 0 judges and writes
        return JudgeResult(out_dir, result, float("nan"), {})
    scorer = AlignmentJudgeScorer(judge, tokenizer, recipe.score_kind)
    true_scores = scorer.score(
        torch.stack([to_tensor(i.image) for i in heldout for _ in (0, 1)]),
        [c for i in heldout for c in (i.short, i.long)],
    )
    threshold = calibrate_threshold(true_scores.numpy(), recipe.pass_share)
    metrics = heldout_metrics(scorer, heldout, threshold, seed)
    manifest: dict[str, Any] = {
        "score_kind": recipe.score_kind,
        "threshold": threshold,
        "pass_share": recipe.pass_share,
        "steps": result.steps,
        "minutes": result.minutes,
        "metrics": metrics,
        "heldout_pairs": 2 * len(heldout),
    }
    save_judge(out_dir, judge, tokenizer, manifest, overwrite=True)
    shutil.rmtree(result.checkpoint_dir, ignore_errors=True)  # complete: a rerun starts afresh
    return JudgeResult(out_dir, result, threshold, metrics)
