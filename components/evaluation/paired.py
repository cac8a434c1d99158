"""Two generators judged on the same images' prompts, compared image by image.

Every generator of a comparison draws the same prompts with the same seeds, so its verdicts
are paired: what decides between two of them is only the images where they disagree (A passes
and B fails, or the reverse). McNemar's exact test asks whether those disagreements split
more unevenly than a fair coin would: under "no difference" each discordant image is A's
with probability 1/2, so the count of A's is Binomial(discordant, 1/2). It is the right test
for paired shares; two independent Wilson intervals that overlap can still hide a clear
paired difference, and the reverse.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)  # one image of the suite, e.g. (prompt id, form)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value of `only_a` against `only_b` discordant images: twice
    the smaller binomial tail at 1/2, at most 1 (1 when there is no discordant image)."""
    if only_a < 0 or only_b < 0:
        raise ValueError(f"discordant counts must be >= 0, got {only_a} and {only_b}")
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class PairedComparison:
    only_a: int  # images A passes and B fails
    only_b: int  # images B passes and A fails
    both: int
    neither: int

    @property
    def n(self) -> int:
        return self.only_a + self.only_b + self.both + self.neither

    @property
    def difference(self) -> float:
        """A's share minus B's share (the discordant images alone decide it)."""
        return (self.only_a - self.only_b) / self.n if self.n else float("nan")

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.only_a, self.only_b)


def compare_paired(a: Mapping[Key, bool], b: Mapping[Key, bool]) -> PairedComparison:
    """Per-image verdicts of A and B on the same images (keys) -> their paired comparison.
    Verdicts on different images are not pairs: a key that only one side has is an error."""
    if a.keys() != b.keys():
        missing = sorted(map(str, a.keys() ^ b.keys()))
        raise ValueError(f"the two judgements cover different images: {missing[:5]} ({len(missing)} in all)")
    only_a = sum(a[k] and not b[k] for k in a)
    only_b = sum(b[k] and not a[k] for k in a)
    both = sum(a[k] and b[k] for k in a)
    return PairedComparison(only_a, only_b, both, len(a) - only_a - only_b - both)
