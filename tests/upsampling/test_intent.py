"""Known answers for the intent check: rewrites that lose or contradict a fact fail and name
it; faithful rewrites, the world's own descriptive captions among them, pass."""

import numpy as np
import pytest

from components.evaluation.prompts import prompt_suite
from components.judge.perturb import perturb
from components.upsampling import check_intent, read_intent
from components.world import describe_scene, sample_scene


@pytest.mark.parametrize(
    "prompt, rewrite, failure",
    [
        (
            "a red circle",
            "A large circle sits in the center of a white background.",
            "drops the colour red of the circle",
        ),
        ("a red circle", "A large red square sits in the center.", "swaps circle for square (the red circle)"),
        ("a red circle", "A big blue circle sits in the center.", "swaps red for blue (the red circle)"),
        (
            "a large red circle",
            "A small red circle on gray.",
            "states the large red circle as small where the prompt says large",
        ),
        ("a large red circle", "A red circle on gray.", "drops the size large of the large red circle"),
        ("a red circle and a blue square", "A red circle on gray.", "drops the blue square"),
        (
            "two blue squares",
            "Three small blue squares on a gray background.",
            "states 3 blue squares where the prompt says 2",
        ),
        ("two blue squares", "Blue squares on a gray background.", "drops the count 2 of the blue squares"),
        (
            "two green squares on a black background",
            "Two green squares on a black background. One is in the top right, one in the top left and one in"
            " the bottom right corner.",
            "places 3 green squares where the prompt says 2",
        ),
        (
            "a red circle",
            "A red circle is in the top left. Another red circle sits at the bottom right.",
            "places 2 red circles where the prompt says one",
        ),
        ("a red circle", "Two red circles on white.", "states 2 red circles where the prompt says one"),
        ("four shapes on gray", "Five shapes on a gray background.", "states 5 shapes where the prompt says 4"),
        (
            "a red circle on a white background",
            "A red circle on a white background and a black backdrop.",
            "adds a second background black",
        ),
        (
            "a red circle on a white background",
            "A red circle on a white background. The background is a flat gray.",
            "adds a second background gray",
        ),
        (
            "a red circle on a white background",
            "A red circle on a black background.",
            "states the background black where the prompt says white",
        ),
        ("a red circle on a white background", "A red circle in the middle.", "drops the background white"),
        (
            "a sign that says 'OPEN'",
            "A white sign across the top reads 'SALE'.",
            "states the sign word 'SALE' where the prompt says 'OPEN'",
        ),
        (
            "a sign that says 'OPEN'",
            "A white sign reads 'OPEN'. Another sign says 'EXIT'.",
            "adds a second sign word 'EXIT'",
        ),
        ("a sign that says 'OPEN'", "A white sign on a gray background.", "drops the sign word 'OPEN'"),
        (
            "a sign saying open",
            "A white sign reads 'SHOP'.",
            "states the sign word 'SHOP' where the prompt says 'OPEN'",
        ),
        ("a cat on a red mat", "A red mat lies in the center of a gray background.", "drops the word 'cat'"),
        ("a white cat on a red mat", "A black cat on a red mat.", "drops the colour white of the 'cat'"),
        ("two cats and a red circle", "Three cats and a red circle.", "states 3 'cats' where the prompt says 2"),
        ("a café beside a red circle", "A red circle beside a cafe.", "drops the word 'café'"),
        ("a red glowing, pulsing circle", "A glowing red circle pulses at the center.", "drops the word 'pulsing'"),
        (
            "a red circle",
            "There are no circles. A red square sits in the middle.",
            "contradicts: the prompt's red circle is negated ('no circles')",
        ),
        ("a red circle and no squares", "A red circle sits at the top.", "drops the negation: no squares"),
        (
            "a red circle and no squares",
            "A red circle sits at the top. There are no squares. A blue square is at the bottom.",
            "contradicts: states a blue square where the prompt says no squares",
        ),
        (
            "a red circle and no sign",
            "A red circle and a sign reading 'OPEN'.",
            "contradicts: states a sign where the prompt says there is none",
        ),
        (
            "a red circle in the top left",
            "A large red circle sits in the bottom right on gray.",
            "places the red circle in the bottom right where the prompt says in the top left",
        ),
        (
            "a red circle in the top left",
            "A large red circle on gray.",
            "drops the place of the red circle: in the top left",
        ),
        (
            "a red circle to the left of a blue square",
            "A red circle sits on the right. A blue square is on the left.",
            "contradicts: puts the red circle to the right of the blue square where the prompt says to the left of",
        ),
        (
            "a red circle above a blue square",
            "The red circle is below the blue square.",
            "contradicts: puts the red circle below the blue square where the prompt says above",
        ),
        (
            "a red circle to the left of a blue square",
            "A red circle and a blue square on white.",
            "drops the relation: the red circle to the left of the blue square",
        ),
        ("a dog named 'Rex' and a red circle", "A dog and a red circle.", "drops the quoted text 'Rex'"),
    ],
)
def test_a_lost_fact_fails_and_is_named(prompt, rewrite, failure):
    verdict = check_intent(prompt, rewrite)
    assert not verdict.passed
    assert failure in verdict.failures, verdict.failures


@pytest.mark.parametrize(
    "prompt, rewrite",
    [
        ("a triangle", "A small red triangle sits in the top left of a plain white background. There are no circles."),
        ("two blue squares", "A blue square sits at the top; another blue square is in the bottom right."),
        ("a red circle in the top left", "In the top left corner there is a big red circle."),
        ("a red circle to the left of a blue square", "The blue square is to the right of the red circle."),
        (
            "a red circle to the left of a blue square",
            "A red circle sits on the left. A blue square is at the bottom right.",
        ),
        ("the circle is red", "A large red circle rests in the center of a gray background."),
        ("a red circle and no squares", "A red circle sits at the top. No squares or triangles appear."),
        ("a white cat on a red mat", "A fluffy white cat sits on a red mat, against a gray background."),
        ("a sign that says STOP", "Across the bottom, a white sign reads 'STOP'. A green cross is in the center."),
        ("four shapes", "This image shows four shapes: a red circle, a blue square, a green cross and a pink dot."),
        ("a red circle", "A red circle sits in the middle. Nothing else is red."),
        ("a café with a red circle", "A red circle beside a café, on a white background."),
        ("a red glowing, pulsing circle", "A glowing, pulsing red circle sits at the center of a plain white canvas."),
        ("a big red circle in the middle of a white background", "A large red circle sits in the center on white."),
        ("", ""),
    ],
)
def test_a_faithful_rewrite_passes(prompt, rewrite):
    verdict = check_intent(prompt, rewrite)
    assert verdict.passed, verdict.failures
    assert verdict.failures == []


def test_world_short_captions_hold_in_the_descriptive_caption_of_their_scene():
    """The curated writer's descriptive caption of a scene states everything its short caption
    does: 200 of 200 pairs pass here (4,000 of 4,000: 2,000 scenes each of seeds 0 and 1)."""
    rng = np.random.default_rng(0)
    failed = []
    for _ in range(200):
        captions = describe_scene(sample_scene(rng), rng)
        verdict = check_intent(captions.short, captions.descriptive)
        if not verdict.passed:
            failed.append((captions.short, verdict.failures))
    assert failed == []


def test_evaluation_prompts_hold_in_their_long_form():
    """Every category's short form and unseen phrasing against the long form of the same scene."""
    for prompt in prompt_suite(10, seed=3):
        for form in ("short", "unseen"):
            verdict = check_intent(prompt.text(form), prompt.long)
            assert verdict.passed, (prompt.id, form, prompt.text(form), verdict.failures)


@pytest.mark.parametrize("kind", ["colour_swap", "shape_swap", "count_change", "sign_word"])
def test_a_hard_negative_of_a_short_caption_fails(kind):
    """The judge's one-edit hard negatives, applied to short captions, each lose a fact."""
    rng, edits = np.random.default_rng(1), np.random.default_rng(2)
    tried = 0
    while tried < 30:
        short = describe_scene(sample_scene(rng), rng).short
        edit = perturb(short, kind, edits)
        if edit is None:
            continue
        tried += 1
        assert not check_intent(short, edit.text).passed, (short, edit.text)


def test_an_added_object_is_allowed():
    assert check_intent("a red circle", "A red circle and a small blue square on white.").passed


def test_read_intent_facts():
    intent = read_intent("Two white cats beside a big red circle in the top left, above a sign that says 'OPEN'.")
    assert intent.outside == ("cats",)
    assert [(b.word, b.colors, b.count) for b in intent.bound] == [("cats", frozenset({"white"}), 2)]
    assert intent.background is None  # the white is the cats'
    (circle,) = intent.objects
    assert (circle.color, circle.shape, circle.size) == ("red", "circle", "large")
    assert [(p.row, p.col) for p in intent.places] == [(0, 0)]
    assert [(r.subject.mention, r.relation, r.other.is_sign) for r in intent.relations] == [(circle, "above", True)]
    assert intent.sign_text == "OPEN"


def test_read_intent_needs_text():
    with pytest.raises(TypeError, match="read_intent needs a str, got int"):
        read_intent(3)  # pyright: ignore[reportArgumentType]  # the wrong type on purpose
