"""Caption length statistics, in words, as shown in asset metadata and logged to MLflow."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from components.text.words import word_count


def length_stats(captions: Iterable[str], prefix: str) -> dict[str, float]:
    """{prefix}_words_{mean,median,p05,p95,min,max} over `captions` (empty -> no keys)."""
    lengths = np.array([word_count(c) for c in captions], dtype=np.float64)
    if lengths.size == 0:
        return {}
    return {
        f"{prefix}_words_mean": round(float(lengths.mean()), 2),
        f"{prefix}_words_median": float(np.median(lengths)),
        f"{prefix}_words_p05": float(np.percentile(lengths, 5)),
        f"{prefix}_words_p95": float(np.percentile(lengths, 95)),
        f"{prefix}_words_min": float(lengths.min()),
        f"{prefix}_words_max": float(lengths.max()),
    }
