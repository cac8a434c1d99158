"""The preference rate: known answers (the rendered truth over blank images, a generator over
itself), the order of what decides a pair, and refused unpaired keys."""

from __future__ import annotations

import numpy as np
import pytest

from components.evaluation.image_judge import judge_image
from components.evaluation.image_quality import image_quality
from components.evaluation.preference import ImageVerdict, prefer, preference_rate
from components.evaluation.prompts import prompt_suite
from components.world import render


def verdicts(images: list[np.ndarray], prompts) -> dict:
    out = {}
    for prompt, image in zip(prompts, images, strict=True):
        judged = judge_image(image, prompt, "long")
        passed = sum(verdict.passed for verdict in judged.verdicts)
        out[(prompt.id, "long")] = ImageVerdict(passed, image_quality(image).distance)
    return out


def test_the_rendered_truth_beats_blank_images_and_ties_itself() -> None:
    prompts = prompt_suite(2, seed=5)
    truth = verdicts([render(p.scene) for p in prompts], prompts)
    blank = verdicts([np.full((64, 64, 3), 128, dtype=np.uint8) for _ in prompts], prompts)
    won = preference_rate(truth, blank)
    assert won.rate == 1.0 and won.losses == 0 and won.interval == (1.0, 1.0)
    assert won.p_value < 0.05 and won.n == len(prompts)
    itself = preference_rate(truth, truth)
    assert itself.rate == 0.5 and itself.ties == len(prompts) and itself.p_value == 1.0


def test_clauses_decide_before_quality() -> None:
    assert prefer(ImageVerdict(3, 0.5), ImageVerdict(2, 0.0)) == 1.0
    assert prefer(ImageVerdict(2, 0.1), ImageVerdict(2, 0.2)) == 1.0
    assert prefer(ImageVerdict(2, 0.2), ImageVerdict(2, 0.1)) == 0.0
    assert prefer(ImageVerdict(2, 0.2), ImageVerdict(2, 0.2)) == 0.5
    # A difference no one could see is a tie: the quality margin.
    assert prefer(ImageVerdict(2, 0.161), ImageVerdict(2, 0.165)) == 0.5
    assert prefer(ImageVerdict(2, 0.150), ImageVerdict(2, 0.165)) == 1.0


def test_a_rate_and_its_interval_from_counts() -> None:
    keys = range(40)
    a = {k: ImageVerdict(1 if k < 30 else 0, 0.0) for k in keys}  # A wins 30, loses 10
    b = {k: ImageVerdict(0 if k < 30 else 1, 0.0) for k in keys}
    result = preference_rate(a, b, resamples=4000)
    assert result.rate == 0.75 and (result.wins, result.losses, result.ties) == (30, 10, 0)
    low, high = result.interval
    assert 0.55 < low < 0.75 < high < 0.9
    assert result.p_value == pytest.approx(0.00222, abs=1e-4)  # two-sided sign test, 30 of 40


def test_unpaired_or_empty_judgements_are_refused() -> None:
    with pytest.raises(ValueError, match="different images"):
        preference_rate({1: ImageVerdict(1, 0.0)}, {2: ImageVerdict(1, 0.0)})
    with pytest.raises(ValueError, match="no images"):
        preference_rate({}, {})
