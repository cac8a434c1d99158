"""What a prompt upsampler does to prompts, measured on the benchmark's own prompts.

`measure_intent`: per category, the share of prompts whose first rewrite keeps the
prompt's intent (before the guard), the share whose drawn text keeps it (after: a passing
rewrite, or the prompt itself on fallback) and the fallback rate, with Wilson intervals.
`measure_diversity`: k rewrites of each prompt; the share that are distinct, and their
lengths in words beside the training captions'. `upsampled_entries`: benchmark entries
whose prompt is the guarded rewrite of a short (or unseen-form) entry, judged by that
entry's own clauses, so "short" and "short_upsampled" are the same requests drawn two ways.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from components.evaluation.benchmark import BenchmarkEntry
from components.evaluation.image_judge import Share
from components.text.words import word_count
from components.upsampling import GuardedRewrite, check_intent
from components.upsampling.upsampler import Upsampler

UPSAMPLED = {"short": "short_upsampled", "unseen": "unseen_upsampled"}  # form -> its upsampled form


@dataclass(frozen=True)
class IntentRow:
    category: str
    prompts: int
    before: Share  # the first rewrite keeps the intent
    after: Share  # the text drawn from keeps it
    fallbacks: Share  # every try failed: drawn from the prompt as written


@dataclass(frozen=True)
class RewriteExample:
    category: str
    prompt: str
    first: str  # the first rewrite (the prompt itself when the rewriter gave none)
    first_failures: list[str]  # why the first rewrite failed the check; [] when it passed
    drawn: str  # what the guard hands the generator
    used_fallback: bool


def measure_intent(
    upsampler: Upsampler, prompts: Iterable[tuple[str, str]]
) -> tuple[list[IntentRow], list[RewriteExample]]:
    """prompts: (category, prompt) pairs. Rows per category in first-seen order, then `all`."""
    examples = [_example(category, prompt, upsampler.upsample(prompt)) for category, prompt in prompts]
    categories = list(dict.fromkeys(e.category for e in examples))
    rows = [_row(c, [e for e in examples if e.category == c]) for c in categories]
    return [*rows, _row("all", examples)], examples


def _example(category: str, prompt: str, result: GuardedRewrite) -> RewriteExample:
    first_passed = result.attempts >= 1 and not result.failures
    first = result.text if first_passed else prompt
    failures = [] if first_passed else [f.split(": ", 1)[-1] for f in result.failures[:1]]
    return RewriteExample(category, prompt, first, failures, result.text, result.used_fallback)


def _row(category: str, examples: Sequence[RewriteExample]) -> IntentRow:
    n = len(examples)
    before = sum(not e.first_failures for e in examples)
    after = sum(check_intent(e.prompt, e.drawn).passed for e in examples)
    return IntentRow(category, n, Share(before, n), Share(after, n), Share(sum(e.used_fallback for e in examples), n))


@dataclass(frozen=True)
class Diversity:
    prompts: int
    k: int
    distinct_share: float  # mean over prompts of (distinct rewrites / k)
    rewrite_words: dict[str, float]  # mean, std, p10, p50, p90 of the passing rewrites' lengths
    caption_words: dict[str, float]  # the same of the training captions'


def measure_diversity(
    upsampler: Upsampler, prompts: Sequence[str], k: int, training_captions: Sequence[str]
) -> Diversity:
    """k guarded rewrites of each prompt (fallbacks count as the prompt itself)."""
    distinct, lengths = [], []
    for prompt in prompts:
        results = upsampler.upsample_many(prompt, k)
        distinct.append(len({r.text for r in results}) / k)
        lengths += [word_count(r.text) for r in results if not r.used_fallback]
    return Diversity(
        len(prompts),
        k,
        float(np.mean(distinct)) if distinct else 0.0,
        _spread(lengths),
        _spread([word_count(c) for c in training_captions]),
    )


def _spread(values: Sequence[int]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values, dtype=float)
    p10, p50, p90 = np.percentile(array, [10, 50, 90])
    return {"mean": float(array.mean()), "std": float(array.std()), "p10": p10, "p50": p50, "p90": p90}


def upsampled_entries(
    entries: Sequence[BenchmarkEntry], upsampler: Upsampler, forms: Sequence[str] = tuple(UPSAMPLED)
) -> list[BenchmarkEntry]:
    """One upsampled entry per entry of `forms`, numbered after the last of `entries`."""
    unknown = set(forms) - set(UPSAMPLED)
    if unknown:
        raise ValueError(f"forms {sorted(unknown)} have no upsampled form; known: {sorted(UPSAMPLED)}")
    start = max((e.index for e in entries), default=-1) + 1
    sources = [e for e in sorted(entries, key=lambda e: e.index) if e.form in forms]
    return [
        replace(
            e, index=start + i, form=UPSAMPLED[e.form], prompt=upsampler.upsample(e.prompt).text, user_prompt=e.prompt
        )
        for i, e in enumerate(sources)
    ]


def intent_json(rows: Sequence[IntentRow]) -> dict[str, Any]:
    return {
        r.category: {
            "prompts": r.prompts,
            **{
                name: {"share": s.value, "interval": list(s.interval)}
                for name, s in (("before", r.before), ("after", r.after), ("fallbacks", r.fallbacks))
            },
        }
        for r in rows
    }
