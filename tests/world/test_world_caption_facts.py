import pytest

from components.world import extract_facts
from components.world.caption_facts import ObjectMention


def M(color=None, shape=None, size=None, count=None, plural=False):
    return ObjectMention(color=color, shape=shape, size=size, count=count, plural=plural)


@pytest.mark.parametrize(
    "text, mentions",
    [
        (
            "A red circle and two blue squares on a gray background.",
            [M("red", "circle"), M("blue", "square", count=2, plural=True)],
        ),
        ("a red big circle", [M("red", "circle", "large")]),
        ("A large red circle.", [M("red", "circle", "large")]),
        ("5 tiny yellow crosses", [M("yellow", "cross", "small", 5, True)]),
        ("Four little pink triangles", [M("pink", "triangle", "small", 4, True)]),
        ("red and blue circles", [M("red", "circle", plural=True), M("blue", "circle", plural=True)]),
        ("a green plus sign", [M("green", "cross")]),
        ("another small blue square", [M("blue", "square", "small")]),
        ("The circle is red.", [M(shape="circle"), M("red")]),
        ("violet dots", [M("purple", "circle", plural=True)]),
    ],
)
def test_mentions(text, mentions):
    facts = extract_facts(text)
    assert list(facts.mentions) == mentions
    assert facts.negated == ()


@pytest.mark.parametrize(
    "text, positive, negated",
    [
        ("There are no triangles.", set(), {(None, "triangle")}),
        ("There are no blue squares, but a red circle sits in the center.", {("red", "circle")}, {("blue", "square")}),
        ("There are no triangles, crosses or squares.", set(), {(None, "triangle"), (None, "cross"), (None, "square")}),
        ("Nothing is green.", set(), {("green", None)}),
        ("None of the shapes are purple; a pink cross is at the top.", {("pink", "cross")}, {("purple", None)}),
        ("There isn't any orange circle here.", set(), {("orange", "circle")}),
        ("Neither circles nor squares appear.", set(), {(None, "circle"), (None, "square")}),
        ("Nothing else is in the picture.", set(), set()),
    ],
)
def test_negation_scope(text, positive, negated):
    facts = extract_facts(text)
    assert {(m.color, m.shape) for m in facts.mentions} == positive
    assert {(m.color, m.shape) for m in facts.negated} == negated


def test_pairs_properties():
    facts = extract_facts("Two red circles and a blue square. There are no green crosses.")
    assert facts.pairs == {("red", "circle"), ("blue", "square")}
    assert facts.negated_pairs == {("green", "cross")}
    assert [m.count for m in facts.counts] == [2]


@pytest.mark.parametrize(
    "text, word, negated",
    [
        ("A white sign across the top reads 'OPEN'.", "OPEN", False),
        ('a sign that says "STOP"', "STOP", False),
        ("a sign that says ‘EXIT’", "EXIT", False),
        ("sign saying TAXI", "TAXI", False),
        ("There's no sign or text.", None, True),
        ("Nothing else shares the top row with the sign 'SALE'.", "SALE", False),
        ("The image contains no text.", None, True),
    ],
)
def test_sign(text, word, negated):
    facts = extract_facts(text)
    assert facts.sign_text == word
    assert facts.sign_negated == negated


def test_quoted_word_is_not_read_as_an_object():
    assert extract_facts("a sign reads 'RED CIRCLE'").mentions == ()


@pytest.mark.parametrize(
    "text, background",
    [
        ("A red circle on a gray background.", "gray"),
        ("A white sign reads 'OPEN' above a circle on black.", "black"),
        ("The sign uses blocky black letters. The background is a flat white.", "white"),
        ("abstract shapes on grey", "gray"),
        ("A white sign with a thin black border.", None),
        ("Everything sits on a plain black background. A white sign reads 'GAME'.", "black"),
    ],
)
def test_background(text, background):
    assert extract_facts(text).background == background
