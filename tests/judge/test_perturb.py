import re
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from components.judge.perturb import PERTURBATIONS, Perturbation, hard_negatives, perturb
from components.world import VOCABULARY, describe_scene, extract_facts, sample_scene
from components.world.scene import Scene

SEEDS = range(60)


def outputs(caption: str, kind: str) -> set[str | None]:
    """Every text `kind` makes of `caption` over many seeds (None when it does not apply)."""
    results = set()
    for seed in SEEDS:
        p = perturb(caption, kind, np.random.default_rng(seed))
        results.add(None if p is None else p.text)
    return results


# ---------------------------------------------------------------- hand-written captions


@pytest.mark.parametrize(
    "caption, swapped",
    [
        ("A red circle is left of a blue square.", "A blue circle is left of a red square."),
        # The swap moves "orange" behind "a", so both articles are fixed.
        ("An orange circle is left of a blue square.", "A blue circle is left of an orange square."),
        # Sizes stay with their nouns; only the colour words move.
        ("Brown square, large green cross.", "Green square, large brown cross."),
        # "but" ends the negation: the two asserted mentions swap, the denied one stays.
        (
            "There are no blue squares, but a red circle and a green triangle sit here.",
            "There are no blue squares, but a green circle and a red triangle sit here.",
        ),
    ],
)
def test_colour_swap_known_answers(caption, swapped):
    assert outputs(caption, "colour_swap") == {swapped}


def test_colour_swap_reports_the_span():
    p = perturb("A red circle is left of a blue square.", "colour_swap", np.random.default_rng(0))
    assert p == Perturbation(
        kind="colour_swap",
        text="A blue circle is left of a red square.",
        before="red circle is left of a blue square",
        after="blue circle is left of a red square",
    )


def test_colour_swap_never_touches_negations():
    caption = "A red circle is left of a blue square. There are no green triangles."
    assert outputs(caption, "colour_swap") == {"A blue circle is left of a red square. There are no green triangles."}


@pytest.mark.parametrize(
    "caption",
    [
        "A red circle sits on a white background.",  # one mention
        "A red circle sits here. There are no blue squares.",  # the other is denied
        "Neither red circles nor blue squares appear.",  # both denied
        "A red circle and a blue circle.",  # same shape: swapping changes no pair
        "A red circle and a red square.",  # same colour
        # Every swap gives pairs the caption already asserts.
        "A red circle, a blue square, a blue circle and a red square.",
        "Four shapes on a gray background.",  # no colour-shape mention
    ],
)
def test_colour_swap_not_applicable(caption):
    assert outputs(caption, "colour_swap") == {None}


@pytest.mark.parametrize(
    "caption, expected",
    [
        (
            "A red circle sits at the top.",
            {"A red square sits at the top.", "A red triangle sits at the top.", "A red cross sits at the top."},
        ),
        # Plural stays plural; "cross" pluralizes as "crosses".
        (
            "Two red circles sit here.",
            {"Two red squares sit here.", "Two red triangles sit here.", "Two red crosses sit here."},
        ),
        # A caption that says "plus sign" keeps saying it; a pair already asserted is never made.
        (
            "A red plus sign and a blue square.",
            {
                "A red circle and a blue square.",
                "A red square and a blue square.",
                "A red triangle and a blue square.",
                "A red plus sign and a blue circle.",
                "A red plus sign and a blue triangle.",
                "A red plus sign and a blue plus sign.",
            },
        ),
        (
            "A red circle and a red square.",
            {
                "A red triangle and a red square.",
                "A red cross and a red square.",
                "A red circle and a red triangle.",
                "A red circle and a red cross.",
            },
        ),
        # The denied mention is never edited.
        (
            "A red circle. There are no green triangles.",
            {
                "A red square. There are no green triangles.",
                "A red triangle. There are no green triangles.",
                "A red cross. There are no green triangles.",
            },
        ),
        ("There are no green triangles.", {None}),
        ("There are two circles.", {None}),  # no colour: the pair would not change
    ],
)
def test_shape_swap_known_answers(caption, expected):
    assert outputs(caption, "shape_swap") == expected


@pytest.mark.parametrize(
    "caption, expected",
    [
        (
            "There are 3 tiny brown squares in total.",
            {f"There are {n} tiny brown squares in total." for n in (2, 4, 5, 6, 7, 8, 9)},
        ),
        (
            "Four red circles sit here.",
            {f"{w} red circles sit here." for w in ("Two", "Three", "Five", "Six", "Seven", "Eight", "Nine")},
        ),
        ("The image shows 2 circles.", {f"The image shows {n} circles." for n in range(3, 10)}),
        ("A red circle sits here.", {None}),
        ("One red circle sits here.", {None}),  # singular: a new count would need a plural noun
        ("There are no 3 red circles.", {None}),  # denied
        ("There are 3 more red circles.", {None}),  # the reader drops the count after "more"
        ("Four shapes on a gray background.", {None}),  # not a mention the reader counts
    ],
)
def test_count_change_known_answers(caption, expected):
    assert outputs(caption, "count_change") == expected


@pytest.mark.parametrize("kind", ["colour_swap", "shape_swap", "count_change"])
@pytest.mark.parametrize("caption", ["Two red, blue and green circles.", "Red, blue circles."])
def test_phrases_with_several_colours_are_left_alone(caption, kind):
    # The reader gives "Two red, blue and green circles" three mentions; editing one word
    # would change all three, so no kind that promises one change takes it.
    assert outputs(caption, kind) == {None}


def test_added_object_adds_one_unmentioned_pair_after_a_positive_sentence():
    caption = "A red circle sits at the top. There are no blue squares."
    for seed in SEEDS:
        p = perturb(caption, "added_object", np.random.default_rng(seed))
        assert p is not None and p.before == ""
        assert p.text == f"A red circle sits at the top. {p.after} There are no blue squares."
        added = extract_facts(p.after)
        assert len(added.mentions) == 1 and not added.negated
        (m,) = added.mentions
        assert (m.color, m.shape) not in {("red", "circle"), ("blue", "square")}
        assert m.size is not None and m.count is None
        assert re.fullmatch(r"[A-Z][a-z ,]+\.", p.after), p.after


def test_added_object_speaks_the_captions_cross_word():
    caption = "A red plus sign sits at the top."
    added = [perturb(caption, "added_object", np.random.default_rng(seed)) for seed in SEEDS]
    sentences = [p.after for p in added if p is not None]
    assert len(sentences) == len(SEEDS)
    assert any("plus sign" in s for s in sentences) and not any("cross" in s for s in sentences)


def test_added_object_not_applicable_without_a_positive_sentence():
    assert outputs("There are no circles. Nothing is red.", "added_object") == {None}


def test_sign_word_keeps_quotes_and_case():
    for seed in SEEDS:
        p = perturb("A white sign reads 'OPEN'. There are no circles.", "sign_word", np.random.default_rng(seed))
        assert p is not None
        m = re.fullmatch(r"A white sign reads '([A-Z]+)'\. There are no circles\.", p.text)
        assert m and m.group(1) in VOCABULARY and m.group(1) != "OPEN"
        assert (p.before, p.after) == ("'OPEN'", f"'{m.group(1)}'")
        q = perturb("A sign says “Open”.", "sign_word", np.random.default_rng(seed))
        assert q is not None
        m = re.fullmatch(r"A sign says “([A-Z][a-z]+)”\.", q.text)
        assert m and m.group(1).upper() in VOCABULARY and m.group(1) != "Open"


def test_sign_word_fixes_the_article():
    texts = outputs("Red circle and an 'EXIT' sign on white.", "sign_word")
    assert len(texts) > 5
    for text in texts:
        assert text is not None
        quoted = re.search(r"'([A-Z]+)'", text)
        assert quoted is not None
        word = quoted.group(1)
        article = "an" if word[0] in "AEIOU" else "a"
        assert text == f"Red circle and {article} '{word}' sign on white."


@pytest.mark.parametrize("caption", ["A red circle on white.", "A sign reads 'hello'.", "A sign reads OPEN."])
def test_sign_word_not_applicable(caption):
    assert outputs(caption, "sign_word") == {None}


def test_repeated_sentence():
    caption = "A red circle sits here. There are no squares."
    assert outputs(caption, "repeated_sentence") == {
        "A red circle sits here. A red circle sits here. There are no squares.",
        "A red circle sits here. There are no squares. There are no squares.",
    }
    p = perturb("A red circle.", "repeated_sentence", np.random.default_rng(0))
    assert p == Perturbation(
        kind="repeated_sentence", text="A red circle. A red circle.", before="", after="A red circle."
    )


def test_truncation_cuts_inside_a_later_sentence():
    caption = "A red circle sits here. A blue square, small, sits there."
    first = "A red circle sits here. "
    assert outputs(caption, "truncation") == {
        first + "A",
        first + "A blue",
        first + "A blue square",  # the comma after "square" goes too
        first + "A blue square, small",
        first + "A blue square, small, sits",
    }
    for seed in SEEDS:
        p = perturb(caption, "truncation", np.random.default_rng(seed))
        assert p is not None and p.after == ""
        assert caption.startswith(p.text) and caption[len(p.text) :].strip() == p.before


@pytest.mark.parametrize("caption", ["A red circle sits here.", "A red circle sits here. Blue."])
def test_truncation_not_applicable(caption):
    assert outputs(caption, "truncation") == {None}


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="colour_flip"):
        perturb("A red circle.", "colour_flip", np.random.default_rng(0))
    with pytest.raises(ValueError, match="shuffle"):
        hard_negatives("A red circle.", np.random.default_rng(0), kinds=("colour_swap", "shuffle"))


def test_hard_negatives_one_per_applicable_kind():
    negatives = hard_negatives("A red circle is left of a blue square.", np.random.default_rng(0))
    assert [p.kind for p in negatives] == ["colour_swap", "shape_swap", "added_object"]
    negatives = hard_negatives("Two red circles and a 'STOP' sign.", np.random.default_rng(0))
    assert [p.kind for p in negatives] == ["shape_swap", "count_change", "added_object", "sign_word"]


# ---------------------------------------------------------------- world captions


@pytest.fixture(scope="module")
def world() -> list[tuple[Scene, str, str]]:
    """300 curated captions (150 scenes, short and descriptive) of the default world."""
    rng = np.random.default_rng(7)
    out = []
    for _ in range(150):
        scene = sample_scene(rng)
        captions = describe_scene(scene, rng)
        out += [(scene, "short", captions.short), (scene, "descriptive", captions.descriptive)]
    return out


def _check_facts(kind: str, caption: str, text: str) -> None:
    """The caption reader sees exactly the change `kind` promises, and nothing else."""
    f0, f1 = extract_facts(caption), extract_facts(text)
    removed = list((Counter(f0.mentions) - Counter(f1.mentions)).elements())
    added = list((Counter(f1.mentions) - Counter(f0.mentions)).elements())
    assert f1.negated == f0.negated and f1.background == f0.background
    if kind != "sign_word":
        assert f1.sign_text == f0.sign_text
    if kind == "colour_swap":
        assert len(removed) == 2
        a, b = removed
        assert a.color != b.color and a.shape != b.shape
        assert Counter(added) == Counter([replace(a, color=b.color), replace(b, color=a.color)])
        assert f1.pairs != f0.pairs
    elif kind == "shape_swap":
        assert len(removed) == 1 and len(added) == 1
        assert added[0] == replace(removed[0], shape=added[0].shape) and added[0].shape != removed[0].shape
        assert (added[0].color, added[0].shape) not in f0.pairs
    elif kind == "count_change":
        assert len(removed) == 1 and len(added) == 1
        assert added[0] == replace(removed[0], count=added[0].count)
        assert added[0].count in range(2, 10) and added[0].count != removed[0].count
    elif kind == "added_object":
        assert removed == [] and len(added) == 1
        assert (added[0].color, added[0].shape) not in f0.pairs | f0.negated_pairs
    elif kind == "sign_word":
        assert f1.mentions == f0.mentions
        assert f1.sign_text in VOCABULARY and f1.sign_text != f0.sign_text


def _expected(scene: Scene, kind: str) -> bool:
    """Whether `kind` should apply to a caption that names every object of `scene`."""
    pairs = {(o.color, o.shape) for o in scene.objects}
    if kind == "colour_swap":
        return any(
            a.color != b.color and a.shape != b.shape and not {(b.color, a.shape), (a.color, b.shape)} <= pairs
            for a in scene.objects
            for b in scene.objects
        )
    if kind == "shape_swap":
        return any((o.color, s) not in pairs for o in scene.objects for s in ("circle", "square", "triangle", "cross"))
    if kind == "count_change":
        return max(Counter((o.color, o.shape) for o in scene.objects).values()) >= 2
    if kind == "sign_word":
        return scene.sign is not None
    return True


def test_world_captions_change_exactly_as_the_kind_says(world):
    applied: Counter[tuple[str, str]] = Counter()
    for i, (scene, which, caption) in enumerate(world):
        for kind in PERTURBATIONS:
            p = perturb(caption, kind, np.random.default_rng(i))
            expected = _expected(scene, kind)
            if which == "descriptive" or kind == "sign_word":
                assert (p is not None) == expected, (kind, caption)
            elif p is not None:
                # A short caption may summarize ("Four shapes on white."), naming no pairs.
                assert expected, (kind, caption)
            if p is None:
                continue
            applied[(which, kind)] += 1
            assert p.text != caption and p.kind == kind
            if kind in ("colour_swap", "shape_swap", "count_change", "added_object", "sign_word"):
                _check_facts(kind, caption, p.text)
            elif kind == "repeated_sentence":
                assert f"{p.after} {p.after}" in p.text and p.text.replace(f"{p.after} ", "", 1) == caption
            else:
                assert caption.startswith(p.text) and not p.text.endswith(".") and re.search(r"\. \S", p.text)
    n = len(world) // 2
    # Every kind must fire on a fair share of the world, or the checks above prove little.
    for kind, least in (("colour_swap", 0.2), ("shape_swap", 0.9), ("count_change", 0.2), ("sign_word", 0.1)):
        for which in ("short", "descriptive"):
            assert applied[(which, kind)] >= least * n, (kind, which, applied[(which, kind)])
    assert applied[("descriptive", "truncation")] == n and applied[("short", "truncation")] == 0  # short: 1 sentence
    assert applied[("short", "added_object")] == applied[("descriptive", "added_object")] == n


def test_same_seed_same_output(world):
    for i, (_, _, caption) in enumerate(world[:40]):
        for kind in PERTURBATIONS:
            assert perturb(caption, kind, np.random.default_rng(i)) == perturb(caption, kind, np.random.default_rng(i))
        assert hard_negatives(caption, np.random.default_rng(i)) == hard_negatives(caption, np.random.default_rng(i))
    # A different seed picks differently somewhere.
    texts = {p.text for seed in range(5) for p in hard_negatives(world[1][2], np.random.default_rng(seed))}
    assert len(texts) > 5
