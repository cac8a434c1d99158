import numpy as np

from components.safety import RemovalCounts, SafetyPolicy, screen_example
from components.world import Scene, Sign, render

POLICY = SafetyPolicy(blocked_terms=("stop", "exit"), patterns=(("price", r"\$\d+"),))


def _sign(word: str | None) -> np.ndarray:
    return render(Scene(background="white", objects=(), sign=None if word is None else Sign(word, 2)))


EXAMPLES: list[tuple[str, np.ndarray | None]] = [
    ("a white sign reads 'OPEN'", _sign("OPEN")),
    ("a white sign reads 'STOP'", _sign("STOP")),  # caption first: term:stop
    ("a white sign", _sign("STOP")),  # the caption hides it, the image does not
    ("a white sign", _sign("EXIT")),
    ("IMG_2847.jpg", _sign(None)),
    ("buy now for $5", None),
    ("E X I T", None),
    ("a white sign reads 'CAFE'", _sign("CAFE")),
]


def test_screen_example_checks_the_caption_then_the_image():
    rules = [screen_example(POLICY, caption, image).rule for caption, image in EXAMPLES]
    assert rules == [None, "term:stop", "sign-word:STOP", "sign-word:EXIT", None, "pattern:price", "term:exit", None]
    assert "the caption contains" in screen_example(POLICY, "stop", None).reason


def test_removal_counts_by_rule():
    counts = RemovalCounts()
    for caption, image in EXAMPLES:
        counts.add(screen_example(POLICY, caption, image))
    assert (counts.seen, counts.removed) == (8, 5)
    assert counts.as_dict() == {
        "pattern:price": 1,
        "sign-word:EXIT": 1,
        "sign-word:STOP": 1,
        "term:exit": 1,
        "term:stop": 1,
    }


def test_a_disabled_policy_removes_nothing():
    counts = RemovalCounts()
    for caption, image in EXAMPLES:
        counts.add(screen_example(SafetyPolicy(enabled=False, blocked_terms=("stop",)), caption, image))
    assert (counts.seen, counts.removed, counts.as_dict()) == (8, 0, {})
