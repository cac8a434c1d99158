"""One generator's scores, from its judged benchmark folder: GenEval's shares by form and
category, image quality, CLIP score, FID and KID against held-out real images, and each
image's verdict, so that a report can pair any two generators (report.py).

Figures needing the world's truth (the shares, the quality, a preference decided by clauses)
exist only where a scene parser can judge the images; CLIP score, FID and KID need none, and a
user's data without truth gets those alone (`truth` False): its preference is then decided by
CLIP score (report.py), and says so.

Flat figure names are the same for every generator, so MLflow's compare view lines mixes up:
    geneval/<form>/overall   geneval/<form>/<tag>   quality/<form>/distance   clip_score   fid   kid
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from components.evaluation.benchmark_judge import BenchmarkResult
from components.evaluation.clip_score import clip_score
from components.evaluation.image_features import ImageFeatures, feature_distances
from components.judge.scoring import Judge
from components.world import render, sample_scene

HELDOUT_SEED = 909_090  # the real images FID compares with: a seed no training set draws from


def heldout_world_images(n: int, seed: int = HELDOUT_SEED) -> np.ndarray:
    """(n, 64, 64, 3) uint8: world pictures drawn as the web shards draw theirs."""
    rng = np.random.default_rng(seed)
    return np.stack([render(sample_scene(rng)) for _ in range(n)])


@dataclass
class GeneratorScores:
    name: str
    truth: bool  # judged by the world's truth (the shares and quality exist)
    rows: list[dict[str, Any]] = field(default_factory=list)  # form, tag, passed, n, low, high, missing, unjudgeable
    overall: dict[str, float] = field(default_factory=dict)  # form -> mean of category means
    quality: dict[str, dict[str, float]] = field(default_factory=dict)  # form -> distance, explained
    clip_score: float | None = None
    clip_by_image: dict[str, float] = field(default_factory=dict)
    distances: dict[str, Any] | None = None  # feature_distances' fields
    verdicts: dict[str, list[float]] = field(default_factory=dict)  # image key -> [clauses passed, distance]
    notes: list[str] = field(default_factory=list)
    images: int = 0

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for form, value in self.overall.items():
            out[f"geneval/{form}/overall"] = value
        for row in self.rows:
            if row["n"]:
                out[f"geneval/{row['form']}/{row['tag']}"] = row["passed"] / row["n"]
        for form, q in self.quality.items():
            out[f"quality/{form}/distance"] = q["distance"]
            out[f"quality/{form}/explained"] = q["explained"]
        if self.clip_score is not None:
            out["clip_score"] = self.clip_score
        if self.distances is not None:
            out["fid"], out["kid"] = self.distances["fid"], self.distances["kid_mean"]
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: Path) -> GeneratorScores:
        try:
            return cls(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as error:
            raise ValueError(f"{path} is not a generator's scores file: {error}") from None


def benchmark_scores(
    name: str,
    result: BenchmarkResult,
    *,
    judge: Judge | None = None,
    features: ImageFeatures | None = None,
    real: np.ndarray | None = None,
) -> GeneratorScores:
    """The scores of `name`'s judged benchmark; CLIP score with `judge` (scoring by cosine), FID and
    KID with `features` against `real` (N, 64, 64, 3) uint8, each where given."""
    scores = GeneratorScores(name, truth=True)
    for row in result.rows():
        low, high = row.share.interval
        scores.rows.append(
            {
                "form": row.form,
                "tag": row.tag,
                "passed": row.share.passed,
                "n": row.share.n,
                "low": low,
                "high": high,
                "missing": row.missing,
                "unjudgeable": row.unjudgeable,
            }
        )
    scores.overall = result.overall()
    scores.quality = {form: asdict(q) for form, q in result.quality().items()}
    scores.verdicts = {key: [v.clauses_passed, v.distance] for key, v in result.verdicts().items()}
    scores.notes = result.notes()
    drawn = [(sample.key, sample.entry.prompt, sample.image) for sample in result.samples if sample.image is not None]
    keys, prompts = [key for key, _, _ in drawn], [prompt for _, prompt, _ in drawn]
    images = np.stack([image for _, _, image in drawn]) if drawn else np.zeros((0, 64, 64, 3), np.uint8)
    scores.images = len(images)
    _add_free_figures(scores, keys, prompts, images, judge, features, real)
    return scores


def free_scores(
    name: str,
    keys: Sequence[str],
    prompts: Sequence[str],
    images: np.ndarray,
    *,
    judge: Judge | None = None,
    features: ImageFeatures | None = None,
    real: np.ndarray | None = None,
) -> GeneratorScores:
    """What a user's data without truth gets: CLIP score, FID and KID only."""
    scores = GeneratorScores(name, truth=False, images=len(images))
    _add_free_figures(scores, list(keys), list(prompts), images, judge, features, real)
    return scores


def _add_free_figures(
    scores: GeneratorScores,
    keys: list[str],
    prompts: list[str],
    images: np.ndarray,
    judge: Judge | None,
    features: ImageFeatures | None,
    real: np.ndarray | None,
) -> None:
    if judge is not None and len(images):
        clip = clip_score(judge, images, prompts)
        scores.clip_score = clip.mean
        scores.clip_by_image = dict(zip(keys, map(float, clip.per_image), strict=True))
    if features is not None and real is not None and len(images) >= 2:
        scores.distances = asdict(feature_distances(real, images, features))
