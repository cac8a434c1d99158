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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from components.evaluation.benchmark import BenchmarkEntry, benchmark_suite
from components.evaluation.image_judge import Share
from components.text.words import word_count
from components.upsampling import GuardedRewrite, check_intent
from components.upsampling.backends import RewriterSettings, open_upsampler
from components.upsampling.train.pairs import curated_pairs
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
    first: str  # the first rewrite, passing or not (the prompt itself when the rewriter gave none)
    first_failures: list[str]  # why the first rewrite failed the check; [] when it passed
    drawn: str  # what the guard hands the generator
    used_fallback: bool
    drawn_keeps_intent: bool  # checked once here, counted in its category's row and in `all`


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
    first = result.text if first_passed else (result.rejected[0] if result.rejected else "") or prompt
    # A prompt the rewriter was never called on (past its context) has no first rewrite: its note says why.
    failures = [] if first_passed else [f.split(": ", 1)[-1] for f in result.failures[:1]] or [result.note]
    kept = check_intent(prompt, result.text).passed
    return RewriteExample(category, prompt, first, failures, result.text, result.used_fallback, kept)


def _row(category: str, examples: Sequence[RewriteExample]) -> IntentRow:
    n = len(examples)
    before = sum(not e.first_failures for e in examples)
    after = sum(e.drawn_keeps_intent for e in examples)
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


@dataclass(frozen=True)
class UpsamplerMeasures:
    intent_rows: list[IntentRow]  # per category of the short prompts, `unseen`, then `all`
    examples: list[RewriteExample]
    diversity: Diversity
    stats: dict[str, Any]  # the guard's FallbackStats over every call

    def metrics(self) -> dict[str, float]:
        out = {}
        for row in self.intent_rows:
            for name, share in (("before", row.before), ("after", row.after), ("fallbacks", row.fallbacks)):
                out[f"intent/{name}/{row.category}"] = share.value
        out["diversity/distinct_share"] = self.diversity.distinct_share
        out.update({f"diversity/words_{k}": v for k, v in self.diversity.rewrite_words.items()})
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "intent": intent_json(self.intent_rows),
            "diversity": asdict(self.diversity),
            "stats": self.stats,
            "examples": [asdict(e) for e in self.examples],
        }


def measure_upsampler(
    upsampler_dir: Path,
    curated_shards: Sequence[Path],
    *,
    per_category: int,
    diversity_prompts: int,
    k: int,
    seed: int = 0,
    keep_prompt: bool | None = None,
    forbid_contradictions: bool | None = None,
) -> UpsamplerMeasures:
    """The saved rewriter at `upsampler_dir`, loaded as users load it, on the benchmark's short
    prompts (by category) and unseen-form prompts; its diversity on the first short prompts of
    each category in turn, beside the curated training captions' lengths. keep_prompt and
    forbid_contradictions: None keeps the manifest's."""
    settings = RewriterSettings(
        model=str(upsampler_dir), seed=seed, keep_prompt=keep_prompt, forbid_contradictions=forbid_contradictions
    )
    upsampler = open_upsampler(settings)
    entries = benchmark_suite(per_category, forms=("short", "unseen"))
    prompts = [(e.tag if e.form == "short" else "unseen", e.prompt) for e in entries]
    rows, examples = measure_intent(upsampler, prompts)
    shorts = sorted((e for e in entries if e.form == "short"), key=lambda e: (int(e.prompt_id.split("/")[1]), e.index))
    captions = [p.long for p in curated_pairs(curated_shards, "train")]
    diversity = measure_diversity(upsampler, [e.prompt for e in shorts[:diversity_prompts]], k, captions)
    return UpsamplerMeasures(rows, examples, diversity, upsampler.stats.as_dict())
