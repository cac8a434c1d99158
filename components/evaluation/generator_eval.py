"""Judging a generator: sample every prompt of a suite in its short and long form, parse each
image and judge every clause (image_judge.py), and name the figures the claim is read by.

Headline figures (shares of images, each with a Wilson interval in the full summary):
- `single/colour`, `single/shape`, `single/colour_shape`: short single-object prompts ("a purple
  triangle") drawn with some object of that colour, that shape, and both on one object;
- `single/whole_object`: long single-object prompts drawn with the object's colour, shape,
  place and nothing else (the GPU target's figure);
- `background`: long prompts of every category drawn on the stated background;
- `two/both_present`: short two-object prompts with both objects (each colour on its shape);
- `short/all`, `long/all`: GenEval's rule over every prompt of the form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from components.data.preview import sample_grid
from components.evaluation.image_judge import ImageJudgement, Share, judge_image, summarize
from components.evaluation.prompts import FORMS, Prompt, prompt_suite
from components.generator.judging import GeneratorJudge, Judgement, Sampler
from components.generator.train.recipe import EVAL_CATEGORIES

WHOLE_OBJECT = ("colour", "shape", "pair", "place", "nothing_extra")
GRID_PER_CATEGORY = 2  # the grid shows each category's first prompts, short and long
EVAL_SEED = 1234  # the prompts' seed: the same prompts for every mix, run and point of a curve
CURVE_FORMS = ("short", "long")  # a curve's points; the benchmark (benchmark.py) adds the unseen form


def judge_generator(sample: Sampler, prompts: Sequence[Prompt], forms: Sequence[str] = CURVE_FORMS):
    """-> (judgements, images): one image per prompt and form, in prompt order within each form."""
    judgements: list[ImageJudgement] = []
    images: list[np.ndarray] = []
    for form in forms:
        drawn = sample([p.text(form) for p in prompts])
        images.extend(drawn)
        judgements += [judge_image(image, prompt, form) for image, prompt in zip(drawn, prompts, strict=True)]
    return judgements, images


def _kinds_pass(j: ImageJudgement, kinds: Sequence[str]) -> bool:
    return all(v.passed for v in j.verdicts if v.clause.kind in kinds)


ImageKey = tuple[str, str]  # (prompt id, form): one image of a suite, the same for every generator


def headline_passes(judgements: Sequence[ImageJudgement]) -> dict[str, dict[ImageKey, bool]]:
    """Each named figure above -> whether each of its images passed, so that two generators
    judged on one suite can be compared image by image (paired.py). A figure whose prompts
    were not judged is left out."""

    def of(form: str, category: str | None = None) -> list[ImageJudgement]:
        return [j for j in judgements if j.form == form and category in (None, j.category)]

    def passes(chosen: list[ImageJudgement], ok: Callable[[ImageJudgement], bool]) -> dict[ImageKey, bool]:
        return {(j.prompt_id, j.form): ok(j) for j in chosen}

    figures: dict[str, dict[ImageKey, bool]] = {}
    if single := of("short", "single_object"):
        for name, kinds in (("colour", ("colour",)), ("shape", ("shape",)), ("colour_shape", ("pair",))):
            figures[f"single/{name}"] = passes(single, lambda j, k=kinds: _kinds_pass(j, k))
    if single_long := of("long", "single_object"):
        figures["single/whole_object"] = passes(single_long, lambda j: _kinds_pass(j, WHOLE_OBJECT))
    if long := of("long"):
        figures["background"] = passes(long, lambda j: _kinds_pass(j, ("background",)))
    if two := of("short", "two_objects"):
        figures["two/both_present"] = passes(two, lambda j: _kinds_pass(j, ("pair",)))
    for form in FORMS:
        if of(form):
            figures[f"{form}/all"] = passes(of(form), lambda j: j.passed)
    return figures


def headline(judgements: Sequence[ImageJudgement]) -> dict[str, Share]:
    """The named figures above as shares of their images."""
    return {name: Share(sum(ok.values()), len(ok)) for name, ok in headline_passes(judgements).items()}


def full_summary(judgements: Sequence[ImageJudgement]) -> dict[str, Share]:
    """The headline figures and every clause share of every category and form."""
    return {**headline(judgements), **summarize(judgements)}


def eval_prompts(per_category: int) -> list[Prompt]:
    """The prompts a generator's curve and final figures are judged on (the claim's categories)."""
    return prompt_suite(per_category, seed=EVAL_SEED, categories=EVAL_CATEGORIES)


def grid_of(judgements: Sequence[ImageJudgement], images: Sequence[np.ndarray], prompts: Sequence[Prompt]):
    """Each category's first GRID_PER_CATEGORY prompts, short and long, captioned with the prompt
    (the long ones cut) and whether every clause passed."""
    text = {p.id: p for p in prompts}
    picked = [
        (image, j)
        for image, j in zip(images, judgements, strict=True)
        if int(j.prompt_id.split("/")[1]) < GRID_PER_CATEGORY
    ]
    captions = [f"{'PASS' if j.passed else 'fail'} {text[j.prompt_id].text(j.form)[:60]}" for _, j in picked]
    return sample_grid([image for image, _ in picked], captions, columns=2 * GRID_PER_CATEGORY)


def prompt_judge(prompts: Sequence[Prompt]) -> GeneratorJudge:
    """The generator's judge: every prompt sampled in each form, every clause checked on the
    parsed images; the headline figures, the full summary and a grid of the first prompts."""

    def judge(sample: Sampler) -> Judgement:
        judgements, images = judge_generator(sample, prompts)
        return Judgement(headline(judgements), full_summary(judgements), grid_of(judgements, images, prompts))

    return judge
