"""The image judge on rendered scenes: every clause passes on the prompt's own scene, and an
image built to break one clause fails exactly that clause (and what it implies)."""

from dataclasses import replace

import pytest

from components.evaluation.image_judge import Share, judge_image, summarize, wilson_interval
from components.evaluation.prompts import CATEGORIES, Clause, Prompt, object_clauses, prompt_suite
from components.world import Scene, Sign, WorldObject, render
from components.world.geometry import object_centre


def _obj(color: str, shape: str, row: int, col: int, size: str = "large") -> WorldObject:
    return WorldObject(shape, color, size, row, col, object_centre(col, 0), object_centre(row, 0))


def _scene(*objects: WorldObject, background: str = "gray", sign: Sign | None = None) -> Scene:
    return Scene(background, tuple(sorted(objects, key=lambda o: (o.row, o.col))), sign)


def _failing(prompt: Prompt, scene: Scene, form: str) -> list[str]:
    judgement = judge_image(render(scene), prompt, form)
    return sorted(v.clause.kind for v in judgement.verdicts if not v.passed)


def _red_circle() -> Prompt:
    """ "a red circle", as the single-object builder states it."""
    clauses = (*object_clauses("red", "circle"), Clause("nothing_extra", named=(("red", "circle"),)))
    scene = _scene(_obj("red", "circle", 0, 0))
    unseen = (*clauses, Clause("background", background="gray"))
    return Prompt("single_object/0", "single_object", scene, "a red circle", "A red circle.", clauses, "", unseen)


def test_suite_is_deterministic_and_covers_every_category():
    a, b = prompt_suite(4, seed=3), prompt_suite(4, seed=3)
    assert [(p.id, p.short, p.long, p.scene) for p in a] == [(p.id, p.short, p.long, p.scene) for p in b]
    assert [p.category for p in a] == [c for c in CATEGORIES for _ in range(4)]
    assert [p.short for p in prompt_suite(4, seed=4)] != [p.short for p in a]
    # Choosing fewer categories leaves the others' prompts unchanged.
    only = prompt_suite(4, seed=3, categories=("counting",))
    assert [p.short for p in only] == [p.short for p in a if p.category == "counting"]
    with pytest.raises(ValueError, match="unknown prompt categories"):
        prompt_suite(2, categories=("colours",))
    with pytest.raises(ValueError, match="per_category"):
        prompt_suite(0)


@pytest.mark.parametrize("form", ["short", "long"])
def test_every_clause_passes_on_the_prompts_own_scene(form):
    for prompt in prompt_suite(12, seed=1):
        judgement = judge_image(render(prompt.scene), prompt, form)
        assert judgement.passed, (prompt.id, prompt.text(form), judgement.failures())


def test_short_texts_state_their_clauses():
    for prompt in prompt_suite(6, seed=2):
        for clause in prompt.short_clauses:
            for word in (clause.color, clause.shape, clause.word):
                if word:
                    assert word.lower() in prompt.short.lower()


def _find(category: str, predicate) -> Prompt:
    for p in prompt_suite(60, seed=5, categories=(category,)):
        if predicate(p):
            return p
    raise AssertionError(f"no {category} prompt fits")


def test_a_colour_on_the_wrong_shape_fails_the_pairs_only():
    prompt = _find("two_objects", lambda p: True)
    a, b = prompt.scene.objects
    swapped = _scene(replace(a, color=b.color), replace(b, color=a.color), background=prompt.scene.background)
    assert _failing(prompt, swapped, "short") == ["nothing_extra", "pair", "pair"]


def test_a_wrong_colour_fails_colour_pair_and_nothing_extra():
    prompt = _find("single_object", lambda p: p.scene.objects[0].color != "red")
    (o,) = prompt.scene.objects
    assert _failing(prompt, _scene(replace(o, color="red"), background=prompt.scene.background), "short") == [
        "colour",
        "nothing_extra",
        "pair",
    ]
    other = "circle" if o.shape != "circle" else "square"
    assert _failing(prompt, _scene(replace(o, shape=other), background=prompt.scene.background), "short") == [
        "nothing_extra",
        "pair",
        "shape",
    ]


def test_place_size_background_and_sign_fail_alone_in_the_long_form():
    prompt = _find("single_object", lambda p: p.scene.objects[0].row != 2)
    (o,) = prompt.scene.objects
    moved = replace(o, row=2, y=object_centre(2, 0))
    assert _failing(prompt, replace(prompt.scene, objects=(moved,)), "long") == ["place", "size"]
    resized = replace(o, size="small" if o.size == "large" else "large")
    assert _failing(prompt, replace(prompt.scene, objects=(resized,)), "long") == ["size"]
    background = "white" if prompt.scene.background != "white" else "black"
    assert _failing(prompt, replace(prompt.scene, background=background), "long") == ["background"]
    assert _failing(prompt, replace(prompt.scene, sign=Sign("OPEN", 2)), "long") == ["no_sign"]


def test_a_wrong_sign_word_fails_the_sign():
    prompt = _find("text", lambda p: p.scene.sign is not None and p.scene.sign.text != "STOP")
    sign = prompt.scene.sign
    assert sign is not None
    assert _failing(prompt, replace(prompt.scene, sign=Sign("STOP", sign.row)), "short") == ["sign"]
    assert _failing(prompt, replace(prompt.scene, sign=None), "short") == ["sign"]


def test_one_missing_copy_fails_the_count_alone():
    prompt = _find("counting", lambda p: len(p.scene.objects) >= 3)
    fewer = replace(prompt.scene, objects=prompt.scene.objects[1:])
    assert _failing(prompt, fewer, "short") == ["count"]


def test_swapped_places_fail_the_relation_alone():
    prompt = _find("spatial", lambda p: True)
    a, b = prompt.scene.objects
    swapped = (replace(a, row=b.row, col=b.col, x=b.x, y=b.y), replace(b, row=a.row, col=a.col, x=a.x, y=a.y))
    assert _failing(prompt, _scene(*swapped, background=prompt.scene.background), "short") == ["relation"]


def test_an_extra_object_fails_nothing_extra_alone():
    prompt = _red_circle()
    extra = _scene(_obj("red", "circle", 0, 0), _obj("blue", "square", 2, 2))
    assert _failing(prompt, extra, "short") == ["nothing_extra"]
    assert _failing(prompt, _scene(), "short") == ["colour", "pair", "shape"]


def test_verdicts_give_reasons():
    prompt = _red_circle()
    judgement = judge_image(render(_scene(_obj("blue", "circle", 1, 1))), prompt)
    assert not judgement.passed
    reasons = dict((v.clause.kind, v.reason) for v in judgement.verdicts)
    assert reasons["shape"].startswith("ok: large blue circle at center")
    assert reasons["colour"] == "found large blue circle at center"
    assert "extra large blue circle at center" in reasons["nothing_extra"]


def test_summary_counts_clauses_and_geneval_rule():
    prompt = _red_circle()
    right = judge_image(render(_scene(_obj("red", "circle", 0, 0))), prompt)
    wrong_shape = judge_image(render(_scene(_obj("red", "square", 0, 0))), prompt)
    shares = summarize([right, wrong_shape, right])
    assert (shares["short/single_object/all"].passed, shares["short/single_object/all"].n) == (2, 3)
    assert shares["short/single_object/colour"].value == 1.0
    assert shares["short/single_object/shape"].passed == 2
    assert shares["short/all"].n == 3
    assert list(shares)[0] == "short/all"


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and round(hi, 4) == 0.2775
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert str(Share(3, 4)).startswith("0.750 [")
