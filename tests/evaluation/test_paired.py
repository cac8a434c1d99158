"""The paired comparison of two generators' verdicts: McNemar's exact test on known answers."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from components.evaluation.generator_eval import headline, headline_passes, judge_generator
from components.evaluation.image_judge import Share
from components.evaluation.paired import compare_paired, mcnemar_exact
from components.evaluation.prompts import FORMS, prompt_suite
from components.generator.train.recipe import EVAL_CATEGORIES
from components.world import render


def test_mcnemar_exact_known_values() -> None:
    assert mcnemar_exact(0, 0) == 1.0  # no discordant image: no evidence either way
    assert mcnemar_exact(6, 0) == pytest.approx(2 / 2**6)  # all six discordant images A's
    assert mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 2**10)  # 0.0215
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)  # two-sided: symmetric
    assert mcnemar_exact(5, 5) == 1.0  # an even split, capped at 1
    # 20 of 25 discordant images one way: 2 * P(X <= 5), X ~ Binomial(25, 1/2)
    assert mcnemar_exact(20, 5) == pytest.approx(2 * sum(math.comb(25, k) for k in range(6)) / 2**25)
    with pytest.raises(ValueError, match="-1"):
        mcnemar_exact(-1, 3)


def test_compare_paired_counts_the_four_cells() -> None:
    a = {"p1": True, "p2": True, "p3": False, "p4": False, "p5": True}
    b = {"p1": True, "p2": False, "p3": True, "p4": False, "p5": False}
    c = compare_paired(a, b)
    assert (c.only_a, c.only_b, c.both, c.neither, c.n) == (2, 1, 1, 1, 5)
    assert c.difference == pytest.approx(3 / 5 - 2 / 5)
    assert c.p_value == mcnemar_exact(2, 1)


def test_only_the_discordant_images_decide() -> None:
    """Two comparisons with the same discordant split have the same p-value, whatever the shares."""
    few = compare_paired({i: i < 6 for i in range(10)}, {i: False for i in range(10)})
    many = compare_paired({i: i < 6 or i >= 50 for i in range(100)}, {i: i >= 50 for i in range(100)})
    assert few.p_value == many.p_value == pytest.approx(1 / 32)
    assert few.difference == pytest.approx(0.6) and many.difference == pytest.approx(0.06)


def test_verdicts_on_different_images_are_refused() -> None:
    with pytest.raises(ValueError, match="different images.*p9"):
        compare_paired({"p1": True, "p9": True}, {"p1": True, "p2": False})


def test_a_perfect_generator_against_a_blank_one_image_by_image() -> None:
    """Rendering each prompt's own scene passes every headline figure; drawing every scene
    without its objects fails each figure about objects; paired, every object image is the
    perfect generator's alone, and the shares agree with headline()."""
    prompts = prompt_suite(3, seed=5, categories=EVAL_CATEGORIES)
    by_text = {p.text(form): p for p in prompts for form in FORMS}

    def perfect(texts: list[str]) -> np.ndarray:
        return np.stack([render(by_text[t].scene) for t in texts])

    def blank(texts: list[str]) -> np.ndarray:
        return np.stack([render(replace(by_text[t].scene, objects=())) for t in texts])

    good, _ = judge_generator(perfect, prompts)
    bad, _ = judge_generator(blank, prompts)
    good_passes, bad_passes = headline_passes(good), headline_passes(bad)
    assert set(good_passes) == set(headline(good)) and "two/both_present" in good_passes
    for name, ok in good_passes.items():
        assert all(ok.values()), name
        assert headline(good)[name] == Share(len(ok), len(ok))
        c = compare_paired(ok, bad_passes[name])
        if name == "background":  # the blank images keep their backgrounds
            assert (c.only_a, c.only_b, c.both) == (0, 0, len(ok))
        else:
            assert (c.only_a, c.only_b, c.both) == (len(ok), 0, 0), name
    assert compare_paired(good_passes["single/colour"], bad_passes["single/colour"]).p_value == pytest.approx(0.25)
