"""The paper's human preference, stood in for by a paired preference rate: two generators
draw the same prompt with the same seed, and of each pair of images the one that passes more
of its prompt's clauses wins; a tie on clauses goes to the image cleaner by more than
QUALITY_TIE (the re-render distance, image_quality.py), and a tie on both is half a win each.
The margin matters: two undertrained generators drawing the same noise pass the same clauses
on most prompts and differ in distance by a few thousandths, and without it those
imperceptible differences decided every pair (24 of 24 at p = 1e-7 in the main job). The rate is A's
share of wins over the suite, with a bootstrap interval over the images and the exact sign
test of A's wins against its losses (paired.mcnemar_exact: ties decide nothing).

    0.5: no preference (a generator against itself); 1.0: A wins every pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from components.evaluation.paired import Key, mcnemar_exact

# A margin a viewer could see: less than one small object drawn wrong (a 10 x 10 box of 4,096
# pixels, ~150 levels off its background a channel, adds 100 * 150 / (4096 * 255) = 0.014).
QUALITY_TIE = 0.01


@dataclass(frozen=True)
class ImageVerdict:
    """What decides a pair: the clauses an image passed, then how clean it is."""

    clauses_passed: int
    distance: float  # image_quality's re-render distance, in [0, 1]


@dataclass(frozen=True)
class PreferenceRate:
    rate: float  # A's share of wins, a tie counting half
    interval: tuple[float, float]  # 95% bootstrap interval over the images
    wins: int
    losses: int
    ties: int
    p_value: float  # two-sided exact sign test of wins against losses

    @property
    def n(self) -> int:
        return self.wins + self.losses + self.ties


def prefer(a: ImageVerdict, b: ImageVerdict) -> float:
    """1 when A's image wins, 0 when B's does, 0.5 on a tie."""
    if a.clauses_passed != b.clauses_passed:
        return 1.0 if a.clauses_passed > b.clauses_passed else 0.0
    if abs(a.distance - b.distance) > QUALITY_TIE:
        return 1.0 if a.distance < b.distance else 0.0
    return 0.5


def preference_rate(
    a: Mapping[Key, ImageVerdict], b: Mapping[Key, ImageVerdict], *, resamples: int = 2000, seed: int = 0
) -> PreferenceRate:
    """A's preference rate over B on the same images (keys); a key that only one side has is an
    error, as in paired.compare_paired."""
    if a.keys() != b.keys():
        missing = sorted(map(str, a.keys() ^ b.keys()))
        raise ValueError(f"the two generators drew different images: {missing[:5]} ({len(missing)} in all)")
    if not a:
        raise ValueError("no images to compare")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    scores = np.array([prefer(a[key], b[key]) for key in a])  # (N,) in {0, 0.5, 1}
    draws = np.random.default_rng(seed).integers(0, len(scores), size=(resamples, len(scores)))
    means = scores[draws].mean(axis=1)  # (resamples,)
    low, high = np.quantile(means, [0.025, 0.975])
    wins, losses = int((scores == 1.0).sum()), int((scores == 0.0).sum())
    return PreferenceRate(
        rate=float(scores.mean()),
        interval=(float(low), float(high)),
        wins=wins,
        losses=losses,
        ties=len(scores) - wins - losses,
        p_value=mcnemar_exact(wins, losses),
    )
