"""Scoring (image, caption) pairs with a judge, explaining low scores, and calibrating the
threshold the alignment filter uses.

A score is in [0, 1] for either kind: `match` is the matching head's probability that the
caption is true of the image; `cosine` is the dual encoder's cosine similarity mapped from
[-1, 1] to [0, 1]. The threshold is chosen on held-out true pairs so that a configured share
of true captions pass: the filter's cost in good captions is fixed, and what it catches is
measured (docs/results.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from components.judge.model import AlignmentJudge
from components.judge.train.recipe import SCORE_KINDS
from components.text.tokenizer import CaptionTokenizer

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

# A judge's features of N images: tensors whose first dimension is N, row i for image i. Encoded
# once, they score any number of captions of the same images (the filter scores three per image).
ImageFeatures = tuple[torch.Tensor, ...]


class Judge(Protocol):
    """What the filter needs of a judge: AlignmentJudgeScorer, or a transformers CLIPModel (clip_judge.py)."""

    image_size: int
    score_kind: str

    def encode_images(self, images: torch.Tensor) -> ImageFeatures:
        """images (N, 3, S, S) in [0, 1] -> the judge's features of them, row i for image i."""
        ...

    def score_encoded(self, features: ImageFeatures, captions: Sequence[str]) -> torch.Tensor:
        """Features of N images (encode_images), one caption per image -> scores (N,) in [0, 1]."""
        ...

    def score(self, images: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        """images (N, 3, S, S) in [0, 1], one caption per image -> scores (N,) in [0, 1]."""
        ...


def feature_rows(features: ImageFeatures, rows: torch.Tensor | Sequence[int] | slice) -> ImageFeatures:
    """The features of the images `rows` selects, in its order."""
    index = rows if isinstance(rows, slice | torch.Tensor) else torch.as_tensor(list(rows), dtype=torch.long)
    return tuple(f[index] for f in features)


def check_pairs(features: ImageFeatures, captions: Sequence[str]) -> None:
    if (n := features[0].shape[0]) != len(captions):
        raise ValueError(f"{n} images but {len(captions)} captions")


def score_in_batches(judge: Judge, images: torch.Tensor, captions: Sequence[str], batch_size: int) -> torch.Tensor:
    """A judge's `score`: each batch's images encoded and scored, so memory holds one batch's features."""
    if images.shape[0] != len(captions):
        raise ValueError(f"{images.shape[0]} images but {len(captions)} captions")
    scores = [
        judge.score_encoded(
            judge.encode_images(images[start : start + batch_size]), captions[start : start + batch_size]
        )
        for start in range(0, len(captions), batch_size)
    ]
    return torch.cat(scores) if scores else torch.zeros(0)


class AlignmentJudgeScorer:
    """An AlignmentJudge with its tokenizer, scoring with `score_kind` in batches of `batch_size` pairs."""

    def __init__(
        self, judge: AlignmentJudge, tokenizer: CaptionTokenizer, score_kind: str = "match", batch_size: int = 256
    ) -> None:
        if score_kind not in SCORE_KINDS:
            raise ValueError(f"score_kind={score_kind!r} must be one of {SCORE_KINDS}")
        if score_kind == "match" and not judge.has_match_head:
            raise ValueError("score_kind 'match' needs a judge with a matching head (itm_depth > 0)")
        tokenizer.check_matches(judge.config.towers)
        self.judge, self.tokenizer = judge.eval(), tokenizer
        self.score_kind, self.batch_size = score_kind, batch_size
        self.image_size = judge.config.towers.image_size

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> ImageFeatures:
        """-> (unit embeddings (N, E), tokens for the matching head (N, Q, Dt)), on the judge's device."""
        device = next(self.judge.parameters()).device
        parts = [
            self.judge.encode_image(images[start : start + self.batch_size].to(device))
            for start in range(0, images.shape[0], self.batch_size)
        ]
        if not parts:
            return self.judge.encode_image(images.to(device))  # (0, ...) shapes, checked by the tower
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    @torch.no_grad()
    def score_encoded(self, features: ImageFeatures, captions: Sequence[str]) -> torch.Tensor:
        check_pairs(features, captions)
        scores = [
            self._score(
                feature_rows(features, slice(start, start + self.batch_size)), captions[start : start + self.batch_size]
            )
            for start in range(0, len(captions), self.batch_size)
        ]
        return torch.cat(scores) if scores else torch.zeros(0)

    def score(self, images: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        return score_in_batches(self, images, captions, self.batch_size)

    def _score(self, features: ImageFeatures, captions: Sequence[str]) -> torch.Tensor:
        device = next(self.judge.parameters()).device
        batch = self.tokenizer.encode_batch(list(captions), "long", self.judge.config.towers.context_length)
        tokens, valid = batch.tokens.to(device), batch.attention_mask.to(device)
        image_embeds, image_tokens = features
        text_embeds, states = self.judge.encode_text(tokens, valid)
        if self.score_kind == "cosine":
            return ((image_embeds * text_embeds).sum(dim=-1).float().cpu() + 1) / 2
        return torch.sigmoid(self.judge.match_logits(image_tokens, states, valid).float()).cpu()


def sentences(caption: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(caption.strip()) if s]


@dataclass(frozen=True)
class Explanation:
    sentence: str  # the sentence the judge believes least
    score: float  # its score alone with the image


def explain(judge: Judge, image: torch.Tensor, caption: str) -> Explanation | None:
    """Which sentence of `caption` pulls its score down: each sentence scored alone against
    image (3, S, S); None for a caption of one sentence (the whole caption is the answer)."""
    parts = sentences(caption)
    if len(parts) < 2:
        return None
    once = judge.encode_images(image[None])  # the image encoded once for all its sentences
    scores = judge.score_encoded(feature_rows(once, [0] * len(parts)), parts)
    worst = int(torch.argmin(scores))
    return Explanation(parts[worst], float(scores[worst]))


def calibrate_threshold(true_scores: Sequence[float] | np.ndarray, pass_share: float) -> float:
    """The highest threshold that at least `pass_share` of `true_scores` reach (score >= threshold)."""
    if not 0.0 < pass_share <= 1.0:
        raise ValueError(f"pass_share must be in (0, 1], got {pass_share}")
    scores = np.sort(np.asarray(true_scores, dtype=np.float64))
    if scores.size == 0:
        raise ValueError("no true pairs to calibrate the threshold on")
    if not np.isfinite(scores).all():
        raise ValueError("true_scores hold NaN or infinite values")
    failing = int(np.floor((1.0 - pass_share) * scores.size + 1e-9))  # at most this many may fall below
    return float(scores[failing])
