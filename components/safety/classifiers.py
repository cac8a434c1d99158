"""Pluggable classifiers: any transformers text- or image-classification model, on CPU.

A pipeline is built on first use and kept (one per task and model), so importing this
module does not import transformers. Every label's score is asked for (top_k=None for
text, top_k=num_labels for images) and a spec blocks when any of its labels scores at or
above its threshold; the highest-scoring such label is the one reported. A label the
spec names but the model does not have is a ValueError, since it could never block.
"""

from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from .policy import ClassifierSpec, check_model_reference
from .verdict import SafetyVerdict, blocked


@lru_cache(maxsize=4)
def _text_pipeline(model: str) -> Any:
    from transformers import pipeline

    check_model_reference(model)
    return pipeline("text-classification", model=model, device="cpu")


@lru_cache(maxsize=4)
def _image_pipeline(model: str) -> Any:
    from transformers import pipeline

    check_model_reference(model)
    return pipeline("image-classification", model=model, device="cpu")


def _model_labels(classifier: Any) -> set[str]:
    return set(classifier.model.config.id2label.values())


def _check_labels(spec: ClassifierSpec, classifier: Any) -> None:
    missing = sorted(set(spec.labels) - _model_labels(classifier))
    if missing:
        raise ValueError(
            f"classifier {spec.model!r} has labels {sorted(_model_labels(classifier))}; "
            f"the policy names {missing}, which it never outputs"
        )


def text_scores(spec: ClassifierSpec, text: str) -> dict[str, float]:
    """Every label's score for `text` (truncated to the model's length)."""
    classifier = _text_pipeline(spec.model)
    _check_labels(spec, classifier)
    out = classifier(text, top_k=None, truncation=True)
    return {d["label"]: float(d["score"]) for d in out}


def image_scores(spec: ClassifierSpec, image: np.ndarray) -> dict[str, float]:
    """Every label's score for an (H, W, 3) uint8 image."""
    classifier = _image_pipeline(spec.model)
    _check_labels(spec, classifier)
    out = classifier(Image.fromarray(image), top_k=classifier.model.config.num_labels)
    return {d["label"]: float(d["score"]) for d in out}


def blocking_label(spec: ClassifierSpec, scores: dict[str, float]) -> tuple[str, float] | None:
    """The highest-scoring of the spec's labels at or above its threshold, or None."""
    hits = [(label, scores[label]) for label in spec.labels if scores.get(label, 0.0) >= spec.threshold]
    return max(hits, key=lambda hit: hit[1]) if hits else None


def classifier_verdict(kind: str, spec: ClassifierSpec, scores: dict[str, float], what: str) -> SafetyVerdict | None:
    """The refusal by the `kind` ("text" or "image") classifier of `what` it scored, or None."""
    hit = blocking_label(spec, scores)
    if hit is None:
        return None
    label, score = hit
    return blocked(
        f"{kind}-classifier:{label}",
        f"the {kind} classifier scores the {what} {label!r} {score:.3f} >= {spec.threshold:g}",
    )
