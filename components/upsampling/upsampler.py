"""One rewriter behind the guard, as the places users meet it call it (`recap upsample`,
`recap generate`, the registered generator, the evaluation): `Upsampler.upsample(prompt)`
gives the guarded rewrite to draw from; `upsample_many(prompt, k)` gives k of them.

A rewriter may say what it can read (`prompt_fits(prompt) -> bool`, the local model and the
transformers backend do): a prompt past its context passes through unchanged with a note,
since a truncated prompt would lose facts the guard then refuses anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .guard import FallbackStats, GuardedRewrite, Rewriter, guarded_rewrite


@dataclass
class Upsampler:
    rewriter: Rewriter
    tries: int = 3  # rewrites tried before the prompt is drawn as written
    timeout_s: float | None = None  # the longest wait for one rewrite
    name: str = ""  # what the rewriter is, for notes and metadata: "local: data/models/upsampler"
    stats: FallbackStats = field(default_factory=FallbackStats)  # every upsample call adds to it

    def upsample(self, prompt: str) -> GuardedRewrite:
        fits: Callable[[str], bool] | None = getattr(self.rewriter, "prompt_fits", None)
        if prompt.strip() and fits is not None and not fits(prompt):
            result = GuardedRewrite(
                prompt, True, 0, [], "drawn from the prompt as written: longer than the rewriter's context"
            )
        else:
            result = guarded_rewrite(prompt, self.rewriter, self.tries, timeout_s=self.timeout_s)
        self.stats.add(result)
        return result

    def reseeded(self, seed: int | None, tries: int | None = None) -> Upsampler:
        """A twin for one request: its rewriter's calls seeded afresh from `seed` (a rewriter
        with `reseeded`, the transformers ones; any other is shared as it is), new stats, and
        `tries` (None keeps these)."""
        reseed: Callable[[int | None], Rewriter] | None = getattr(self.rewriter, "reseeded", None)
        rewriter = self.rewriter if reseed is None else reseed(seed)
        return replace(self, rewriter=rewriter, tries=self.tries if tries is None else tries, stats=FallbackStats())

    def upsample_many(self, prompt: str, k: int) -> list[GuardedRewrite]:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        return [self.upsample(prompt) for _ in range(k)]
