import numpy as np
import pytest

from components.safety import SafetyPolicy, blocked_sign_words, check_image, screen_images
from components.world import VOCABULARY, Scene, Sign, WorldObject, render

POLICY = SafetyPolicy(blocked_terms=("stop", "b.a.n.k", "bank robbery"))
RED_CIRCLE = WorldObject(shape="circle", color="red", size="large", row=1, col=0, x=11, y=32)


def _image(sign: str | None, row: int = 0, background: str = "gray") -> np.ndarray:
    return render(Scene(background=background, objects=(RED_CIRCLE,), sign=None if sign is None else Sign(sign, row)))


def test_the_blocked_sign_words_are_those_a_term_matches_whole():
    assert blocked_sign_words(POLICY) == ("STOP", "BANK")
    assert blocked_sign_words(SafetyPolicy(blocked_terms=("sto", "stop sign"))) == ()


@pytest.mark.parametrize("row", [0, 2])
@pytest.mark.parametrize("background", ["white", "gray", "black"])
def test_a_sign_with_a_blocked_word_is_refused(row, background):
    verdict = check_image(POLICY, _image("STOP", row, background))
    assert (verdict.allowed, verdict.rule) == (False, "sign-word:STOP")
    assert verdict.reason == "the image's sign reads 'STOP', which the blocked term 'stop' matches"


def test_every_vocabulary_word_is_judged_by_the_policy():
    for word in VOCABULARY:
        verdict = check_image(POLICY, _image(word))
        assert verdict.rule == (f"sign-word:{word}" if word in ("STOP", "BANK") else None), word


def test_no_sign_or_no_check_is_allowed():
    assert check_image(POLICY, _image(None)).allowed
    assert check_image(SafetyPolicy(blocked_terms=("stop",), check_sign_words=False), _image("STOP")).allowed
    assert check_image(SafetyPolicy(enabled=False, blocked_terms=("stop",)), _image("STOP")).allowed


def test_the_sign_check_needs_a_world_image_only_when_a_sign_word_is_blocked():
    big = np.zeros((128, 128, 3), np.uint8)
    with pytest.raises(ValueError, match="64 x 64"):
        check_image(POLICY, big)
    assert check_image(SafetyPolicy(blocked_terms=("bank robbery",)), big).allowed
    with pytest.raises(ValueError, match="uint8"):
        check_image(POLICY, _image(None).astype(np.float32))


def test_screen_images_blanks_and_flags_exactly_the_refused_ones_in_order():
    images = np.stack([_image("OPEN"), _image("STOP"), _image(None), _image("BANK", row=2), _image("SALE")])
    screened = screen_images(POLICY, images)
    assert screened.flagged == [False, True, False, True, False]
    assert [v.rule for v in screened.verdicts] == [None, "sign-word:STOP", None, "sign-word:BANK", None]
    assert screened.images.shape == images.shape and screened.images.dtype == np.uint8
    for i, flagged in enumerate(screened.flagged):
        if flagged:
            assert not screened.images[i].any()
        else:
            assert np.array_equal(screened.images[i], images[i])
    assert images[1].any()  # the input is left as it was
