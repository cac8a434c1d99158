"""Whitespace words: the one word count behind caption-length statistics, the curated
writer's length bounds and grouping batches by length (tokenizer-free)."""

from __future__ import annotations

from collections.abc import Sequence


def word_count(text: str) -> int:
    return len(text.split())


def word_counts(texts: Sequence[str]) -> list[int]:
    return [word_count(text) for text in texts]
