import math

import numpy as np
import pytest

from components.curation.filters import (
    FilterSettings,
    LengthLimits,
    alignment_reason,
    empty_reason,
    first_failure,
    length_reason,
    repeated_ngram_share,
    repetition_reason,
    sentences,
    words,
)
from components.world import WorldConfig, describe_scene, sample_scene

DEFAULTS = FilterSettings()
CLEAN = "A red circle is at the top left. A small blue square sits in the middle. The background is gray."
LOOP = "a red circle. a red circle. a red circle."
# One sentence whose words cycle with period 6: 21 words, 18 4-grams, the last 12 repeats.
NGRAM_LOOP = "a red circle is next to a red circle is next to a red circle is next to a red circle"


# ---------------------------------------------------------------- settings


def test_defaults_follow_the_paper() -> None:
    assert DEFAULTS.limits("long") == LengthLimits(10, 300)
    assert DEFAULTS.limits("short") == LengthLimits(1, 77)
    assert DEFAULTS.limits("original") == LengthLimits(1, 300)
    assert DEFAULTS.ngram == 4
    assert DEFAULTS.max_repeated_sentence_share == 0.0


@pytest.mark.parametrize(
    ("lo", "hi", "message"),
    [
        (-1, 5, "min_tokens must be >= 0, got -1"),
        (10, 9, "max_tokens must be >= min_tokens (10), got 9"),
    ],
)
def test_length_limits_reject_bad_bounds(lo: int, hi: int, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LengthLimits(lo, hi)


def test_length_limits_accept_equal_bounds() -> None:
    assert LengthLimits(0, 0).max_tokens == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ngram": 0}, "ngram must be >= 1, got 0"),
        ({"max_repeated_ngram_share": 1.5}, r"max_repeated_ngram_share must be in \[0, 1\], got 1.5"),
        ({"max_repeated_sentence_share": -0.1}, r"max_repeated_sentence_share must be in \[0, 1\], got -0.1"),
        ({"max_repeated_ngram_share": math.nan}, r"max_repeated_ngram_share must be in \[0, 1\], got nan"),
    ],
)
def test_filter_settings_reject_out_of_range(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FilterSettings(**kwargs)


def test_unknown_caption_type_is_named() -> None:
    with pytest.raises(ValueError, match="unknown caption type 'medium'"):
        DEFAULTS.limits("medium")


# ---------------------------------------------------------------- empty and length


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_empty(text: str | None) -> None:
    assert empty_reason(text) == "empty"


def test_not_empty() -> None:
    assert empty_reason(" a ") is None


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (9, "too_short: 9 tokens < 10"),
        (10, None),
        (120, None),
        (300, None),
        (301, "too_long: 301 tokens > 300"),
        (412, "too_long: 412 tokens > 300"),
    ],
)
def test_length_boundaries(tokens: int, expected: str | None) -> None:
    assert length_reason(tokens, DEFAULTS.long) == expected


# ---------------------------------------------------------------- repetition


def test_sentences_and_words_are_normalised() -> None:
    assert sentences("A  red Circle!  Is it?\nYes...") == ["a red circle", "is it", "yes"]
    assert sentences("No end mark") == ["no end mark"]
    assert sentences("3.5 units wide.") == ["3.5 units wide"]
    assert words("The sign says 'OPEN'. -- Done,") == ["the", "sign", "says", "open", "done"]


def test_looping_caption_fails() -> None:
    assert repetition_reason(LOOP, DEFAULTS) == "repeated_sentences: 2 of 3 sentences repeat an earlier one"


def test_restated_sentence_differing_in_case_space_and_punctuation_repeats() -> None:
    text = "A red circle is at the top.  It is large. a RED circle is   at the top!"
    assert repetition_reason(text, DEFAULTS) == "repeated_sentences: 1 of 3 sentences repeat an earlier one"


def test_sentence_share_at_the_limit_passes() -> None:
    text = "One circle. One square. Gray background. One circle."  # 1 of 4 repeats
    at_limit = FilterSettings(max_repeated_sentence_share=0.25)
    below = FilterSettings(max_repeated_sentence_share=0.24)
    assert repetition_reason(text, at_limit) is None
    assert repetition_reason(text, below) == "repeated_sentences: 1 of 4 sentences repeat an earlier one"


def test_ngram_loop_within_one_sentence_fails() -> None:
    assert repeated_ngram_share(NGRAM_LOOP, 4) == pytest.approx(12 / 18)
    assert repetition_reason(NGRAM_LOOP, DEFAULTS) == "repeated_ngrams: 67% of 4-grams repeat an earlier one > 25%"


def test_ngram_share_at_the_limit_passes() -> None:
    text = "a b c d a b c d"  # 4-grams abcd bcda cdab dabc abcd: 1 of 5 repeats
    assert repeated_ngram_share(text, 4) == 0.2
    assert repetition_reason(text, FilterSettings(max_repeated_ngram_share=0.2)) is None
    below = FilterSettings(max_repeated_ngram_share=0.19)
    assert repetition_reason(text, below) == "repeated_ngrams: 20% of 4-grams repeat an earlier one > 19%"


def test_ngram_words_ignore_case_and_punctuation() -> None:
    assert repeated_ngram_share("Red circle, blue square. red Circle blue square!", 4) == pytest.approx(1 / 5)


def test_text_shorter_than_ngram_passes() -> None:
    strict = FilterSettings(max_repeated_ngram_share=0.0)
    assert repeated_ngram_share("red red red", 4) == 0.0
    assert repetition_reason("red red red", strict) is None
    assert repetition_reason("red red red", FilterSettings(ngram=1, max_repeated_ngram_share=0.0)) == (
        "repeated_ngrams: 67% of 1-grams repeat an earlier one > 0%"
    )


def test_clean_caption_passes() -> None:
    assert repetition_reason(CLEAN, DEFAULTS) is None


def test_every_curated_caption_passes_repetition() -> None:
    config = WorldConfig(sign_share=0.3)
    failures = []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        captions = describe_scene(sample_scene(rng, config), rng)
        for text in (captions.short, captions.descriptive):
            reason = repetition_reason(text, DEFAULTS)
            if reason is not None:
                failures.append((seed, reason, text))
    assert failures == []


# ---------------------------------------------------------------- alignment


def test_alignment() -> None:
    assert alignment_reason(0.213, 0.25) == "low_alignment: 0.213 < 0.250"
    assert alignment_reason(0.25, 0.25) is None
    assert alignment_reason(0.31, 0.25) is None


@pytest.mark.parametrize(("score", "threshold"), [(math.nan, 0.25), (0.3, math.inf)])
def test_alignment_rejects_non_finite(score: float, threshold: float) -> None:
    with pytest.raises(ValueError, match="must be finite"):
        alignment_reason(score, threshold)


# ---------------------------------------------------------------- first_failure


@pytest.mark.parametrize(
    ("text", "tokens", "caption_type", "score", "expected"),
    [
        ("", 0, "long", 0.0, "empty"),  # empty before too_short and low_alignment
        (None, 0, "short", None, "empty"),
        (LOOP, 9, "long", 0.0, "too_short: 9 tokens < 10"),  # length before repetition
        (LOOP, 9, "short", None, "repeated_sentences: 2 of 3 sentences repeat an earlier one"),
        (LOOP, 12, "long", 0.0, "repeated_sentences: 2 of 3 sentences repeat an earlier one"),  # before alignment
        (CLEAN, 20, "long", 0.1, "low_alignment: 0.100 < 0.250"),
        (CLEAN, 20, "long", 0.3, None),
        (CLEAN, 20, "long", None, None),  # no score: alignment not judged
        (CLEAN, 80, "short", None, "too_long: 80 tokens > 77"),
    ],
)
def test_first_failure_order(
    text: str | None, tokens: int, caption_type: str, score: float | None, expected: str | None
) -> None:
    threshold = None if score is None else 0.25
    assert first_failure(text, tokens, caption_type, DEFAULTS, score=score, threshold=threshold) == expected


def test_first_failure_needs_score_and_threshold_together() -> None:
    with pytest.raises(ValueError, match="both score and threshold"):
        first_failure(CLEAN, 20, "long", DEFAULTS, score=0.3)


def test_first_failure_names_unknown_type_even_for_empty_text() -> None:
    with pytest.raises(ValueError, match="unknown caption type 'alt'"):
        first_failure("", 0, "alt", DEFAULTS)


def test_a_long_caption_cut_mid_sentence_fails_and_an_original_need_not_end_one() -> None:
    from components.curation.filters import unfinished_reason

    settings = FilterSettings()
    cut = "A large red circle sits at the top. A small blue square sits at the"
    assert unfinished_reason(cut) == "unfinished: no sentence end"
    assert unfinished_reason('The sign says "OPEN."') is None and unfinished_reason("Done! ") is None
    assert first_failure(cut, 17, "long", settings) == "unfinished: no sentence end"
    assert first_failure("red circle png for sale cheap today", 12, "original", settings) is None
    with pytest.raises(ValueError, match="unknown caption type"):
        FilterSettings(sentence_end_types=("medium",))
