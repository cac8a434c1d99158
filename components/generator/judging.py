"""What judging a generator means to the generator's training: a judge takes a sampler
(prompts in, images out) and returns figures, a summary and a grid. The judge itself is
evaluation's (evaluation.generator_eval.prompt_judge): evaluation sits above the models, so the
training stage is handed one. Light on purpose: evaluation imports these types without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

Sampler = Callable[[list[str]], np.ndarray]  # prompts -> (N, H, W, 3) uint8 images, one per prompt


class Figure(Protocol):
    """A judged figure: `passed` of `n` images (evaluation.image_judge.Share is one)."""

    @property
    def passed(self) -> int: ...

    @property
    def n(self) -> int: ...

    @property
    def value(self) -> float: ...


@dataclass(frozen=True)
class Judgement:
    """What a judge says of a generator's samples."""

    figures: Mapping[str, Figure]  # the headline figures, the curve's points
    summary: Mapping[str, Figure]  # every figure the judge keeps (the headline ones too)
    grid: Any  # PIL image of some samples, each captioned with its verdict


GeneratorJudge = Callable[[Sampler], Judgement]
