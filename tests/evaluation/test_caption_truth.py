import math

import numpy as np
import pytest

from components.evaluation import SIGN_OUTCOMES, judge_caption, score_captions
from components.world import Scene, Sign, WorldObject, describe_scene, sample_alt_text, sample_scene
from components.world.geometry import object_centre


def obj(color, shape, row, col, size="small"):
    return WorldObject(
        shape=shape, color=color, size=size, row=row, col=col, x=object_centre(col, 0), y=object_centre(row, 0)
    )


def scene(*objects, background="gray", sign=None):
    return Scene(background=background, objects=tuple(sorted(objects, key=lambda o: (o.row, o.col))), sign=sign)


MIXED = scene(obj("red", "circle", 0, 0), obj("blue", "square", 1, 1), obj("blue", "square", 2, 2))
THREE_RED = scene(
    obj("red", "circle", 0, 0), obj("red", "circle", 1, 1), obj("red", "circle", 2, 2), background="white"
)
TWO_RED = scene(obj("red", "circle", 0, 0), obj("red", "circle", 1, 1), background="white")
SIGNED = scene(obj("green", "triangle", 1, 1), background="black", sign=Sign(text="OPEN", row=0))


# ------------------------------------------------------------------ one caption


def test_naming_every_object():
    j = judge_caption("A red circle and two blue squares on a gray background.", MIXED)
    assert (j.n_objects, j.objects_recalled, j.recall) == (3, 3, 1.0)
    assert j.hallucinated_pairs == () and not j.hallucinated and j.hallucinated_attributes == ()
    assert j.wrong_negatives == ()
    assert [(c.color, c.shape, c.stated, c.actual) for c in j.counts] == [("blue", "square", 2, 2)]
    assert j.count_correct is True
    assert j.background == "gray" and j.background_correct
    assert j.sign_outcome == "absent" and j.sign_correct
    assert j.n_words == 11 and j.n_tokens is None
    assert j.reasons == ()


def test_wholly_true_needs_every_statement_right():
    assert judge_caption("A red circle and two blue squares on a gray background.", MIXED).wholly_true
    assert judge_caption("Blue squares.", MIXED).wholly_true  # incomplete is not false
    assert not judge_caption("A green circle and two blue squares.", MIXED).wholly_true  # absent pair
    assert not judge_caption("A red circle and three blue squares.", MIXED).wholly_true  # wrong count
    assert not judge_caption("A red circle. There are no squares.", MIXED).wholly_true  # wrong negative
    assert not judge_caption("A green triangle under a sign that reads 'STOP'.", SIGNED).wholly_true  # sign word
    assert judge_caption("A green triangle under a sign that reads 'OPEN'.", SIGNED).wholly_true


def test_group_counts_as_all_its_objects():
    """Naming the pair once recalls every object of the group; the missing pair is reported."""
    j = judge_caption("Blue squares.", MIXED)
    assert j.objects_recalled == 2
    assert j.count_correct is None
    assert any("not named: red circle (x1)" in r for r in j.reasons)


def test_absent_pair_is_a_hallucination():
    j = judge_caption("A red circle and a green cross.", MIXED)
    assert j.hallucinated_pairs == (("green", "cross"),)
    assert j.hallucinated_attributes == ("cross", "green")
    assert j.objects_recalled == 1
    assert any("hallucinated: names a green cross" in r for r in j.reasons)


def test_binding_error_is_a_pair_hallucination_only():
    j = judge_caption("A blue circle and a red square.", MIXED)
    assert j.hallucinated_pairs == (("blue", "circle"), ("red", "square"))
    assert j.hallucinated_attributes == ()
    assert j.objects_recalled == 0


def test_absent_pair_inside_a_negation_is_not_a_hallucination():
    j = judge_caption("A red circle. There are no blue squares.", TWO_RED)
    assert j.hallucinated_pairs == () and j.hallucinated_attributes == ()
    assert j.wrong_negatives == ()


@pytest.mark.parametrize(
    "caption, denied",
    [
        ("A blue square. There are no red circles.", ("red", "circle", None)),
        ("A blue square. Nothing is red.", ("red", None, None)),
        ("Two blue squares; no circles appear.", (None, "circle", None)),
        ("There are no small red circles.", ("red", "circle", "small")),
    ],
)
def test_wrong_negative_is_reported_apart(caption, denied):
    j = judge_caption(caption, MIXED)
    assert [(m.color, m.shape, m.size) for m in j.wrong_negatives] == [denied]
    assert not j.hallucinated
    assert any(r.startswith("wrong negative") for r in j.reasons)


def test_negative_with_the_wrong_size_is_true():
    assert judge_caption("There are no large red circles.", MIXED).wrong_negatives == ()


@pytest.mark.parametrize(
    "caption, the_scene, correct",
    [
        ("Three red circles on white.", THREE_RED, True),
        ("Three red circles on white.", TWO_RED, False),
        ("3 red circles.", THREE_RED, True),
        ("Two red circles.", TWO_RED, True),
    ],
)
def test_counts(caption, the_scene, correct):
    j = judge_caption(caption, the_scene)
    assert j.count_correct is correct
    assert j.objects_recalled == len(the_scene.objects)
    assert any(r.startswith("count: says 3 red circle") for r in j.reasons) is (not correct)


def test_count_with_size_counts_only_that_size():
    s = scene(obj("red", "circle", 0, 0, "large"), obj("red", "circle", 0, 1, "large"), obj("red", "circle", 1, 1))
    assert judge_caption("Two big red circles and a small red circle.", s).count_correct is True
    assert judge_caption("Three big red circles.", s).count_correct is False


@pytest.mark.parametrize(
    "caption, the_scene, outcome",
    [
        ("A green triangle below a white sign that reads 'OPEN'.", SIGNED, "correct"),
        ("A green triangle below a sign that says 'STOP'.", SIGNED, "wrong"),
        ("A green triangle on black.", SIGNED, "missed"),
        ("A red circle and a sign saying 'SALE'.", MIXED, "false_positive"),
        ("A red circle.", MIXED, "absent"),
    ],
)
def test_sign(caption, the_scene, outcome):
    j = judge_caption(caption, the_scene)
    assert j.sign_outcome == outcome
    assert j.sign_correct is (outcome in ("correct", "absent"))
    assert j.sign_outcome in SIGN_OUTCOMES
    sign_reasons = [r for r in j.reasons if r.startswith("sign")]
    assert len(sign_reasons) == (0 if j.sign_correct else 1)


def test_denying_a_sign_that_exists():
    j = judge_caption("A green triangle. There is no sign or text.", SIGNED)
    assert j.sign_wrongly_denied and j.sign_outcome == "missed"
    assert not judge_caption("A red circle. There is no sign or text.", MIXED).sign_wrongly_denied


@pytest.mark.parametrize(
    "caption, background, correct",
    [
        ("A red circle on a gray background.", "gray", True),
        ("A red circle on black.", "black", False),
        ("A red circle.", None, False),
    ],
)
def test_background(caption, background, correct):
    j = judge_caption(caption, MIXED)
    assert (j.background, j.background_correct) == (background, correct)


def test_tokens_and_bad_tokenizer():
    assert judge_caption("A red circle.", MIXED, tokenizer=list).n_tokens == len("A red circle.")
    with pytest.raises(TypeError, match="sized sequence"):
        judge_caption("A red circle.", MIXED, tokenizer=len)


def test_input_checks():
    with pytest.raises(TypeError, match="caption must be a str"):
        judge_caption(None, MIXED)
    with pytest.raises(TypeError, match="scene must be a Scene"):
        judge_caption("a red circle", MIXED.to_dict())
    with pytest.raises(ValueError, match="2 captions for 1 scenes"):
        score_captions(["a", "b"], [MIXED])
    with pytest.raises(ValueError, match="at least one caption"):
        score_captions([], [])
    with pytest.raises(TypeError, match="got one str"):
        score_captions("a", [MIXED])


# ------------------------------------------------------------------ aggregation


def test_corpus_aggregation_known_answers():
    captions = [
        "A red circle and two blue squares on a gray background.",  # all right
        "Three red circles and a green cross on white.",  # count wrong (2), hallucinated pair
        "A green triangle on gray under a sign reading 'STOP'. Nothing is green.",  # wrong word, bg, negative
        "A red circle.",  # recalls 1 of 3, no background
    ]
    scenes = [MIXED, TWO_RED, SIGNED, MIXED]
    s = score_captions(captions, scenes, tokenizer=str.split)
    assert s.n == 4
    assert s.object_recall == pytest.approx((3 + 2 + 1 + 1) / (3 + 2 + 1 + 3))
    assert s.hallucination_rate == 0.25
    assert s.hallucinated_pairs_per_caption == 0.25
    assert s.attribute_hallucination_rate == 0.25
    assert s.wrong_negative_rate == 0.25
    assert (s.count_accuracy, s.n_count_captions) == (0.5, 2)
    assert (s.sign_accuracy, s.n_sign_scenes) == (0.0, 1)
    assert s.sign_false_positive_rate == 0.0
    assert s.background_accuracy == 0.5
    assert s.background_stated_rate == 0.75
    words = [len(c.split()) for c in captions]
    assert s.mean_words == s.mean_tokens == pytest.approx(sum(words) / 4)
    d = s.to_dict()
    assert all(isinstance(v, float) and math.isfinite(v) for v in d.values())
    assert d["object_recall"] == s.object_recall and "judgements" not in d


def test_undefined_metrics_are_none_and_left_out_of_to_dict():
    s = score_captions(["A red circle."], [MIXED])
    assert s.sign_accuracy is None and s.count_accuracy is None and s.mean_tokens is None
    assert {"sign_accuracy", "count_accuracy", "mean_tokens"}.isdisjoint(s.to_dict())
    assert s.to_dict()["sign_false_positive_rate"] == 0.0


# ------------------------------------------------------------------ the world's own captions


def _world(n, seed):
    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng) for _ in range(n)]
    return scenes, rng


def test_curated_captions_are_true_by_construction():
    scenes, rng = _world(300, 1234)
    captions = [describe_scene(s, rng) for s in scenes]
    assert sum(s.sign is not None for s in scenes) > 20  # the sign checks are exercised

    long = score_captions([c.descriptive for c in captions], scenes)
    for j in long.judgements:
        assert j.reasons == (), (j.caption, j.reasons)
    assert long.object_recall == 1.0
    assert long.hallucination_rate == 0.0 and long.attribute_hallucination_rate == 0.0
    assert long.wrong_negative_rate == 0.0
    assert long.count_accuracy == 1.0 and long.n_count_captions > 30
    assert long.sign_accuracy == 1.0 and long.sign_false_positive_rate == 0.0
    assert long.background_accuracy == 1.0

    # Short captions summarise crowded scenes as a count ("Four shapes on gray"), so
    # recall may fall short of 1; nothing they state may be false.
    short = score_captions([c.short for c in captions], scenes)
    assert 0.9 < short.object_recall <= 1.0
    assert short.hallucination_rate == 0.0 and short.attribute_hallucination_rate == 0.0
    assert short.wrong_negative_rate == 0.0 and short.count_accuracy == 1.0
    assert short.sign_accuracy == 1.0 and short.sign_false_positive_rate == 0.0
    assert short.background_accuracy == 1.0


def test_web_alt_text_scores_low():
    scenes, rng = _world(1000, 99)
    alts = [sample_alt_text(s, rng) for s in scenes]
    s = score_captions([a.text for a in alts], scenes)
    print("alt-text baseline:", {k: round(v, 4) for k, v in s.to_dict().items()})
    assert s.object_recall < 0.3
    assert s.background_accuracy < 0.3 and s.sign_accuracy < 0.3
    assert s.mean_words < 5
    # WORLD.md: "partly true" alt-text is true of the image; "wrong" names an absent colour or shape.
    for a, j in zip(alts, s.judgements, strict=False):
        if a.kind == "partly_true":
            assert not j.hallucinated and not j.hallucinated_attributes, (a.text, j.reasons)
        if a.kind == "wrong":
            assert j.hallucinated_attributes, (a.text, j.reasons)
    assert s.attribute_hallucination_rate == pytest.approx(sum(a.kind == "wrong" for a in alts) / len(alts))
