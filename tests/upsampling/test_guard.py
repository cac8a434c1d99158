"""The guard: resampling until a rewrite keeps the prompt's intent, falling back to the prompt,
passing empty prompts through, and a rewriter that raises, stalls or answers nonsense."""

import threading

import pytest

from components.upsampling import FallbackStats, guarded_rewrite

PROMPT = "a red circle on a white background"
FAITHFUL = "A large red circle sits in the center of a plain white background. There are no squares."
DROPS_COLOUR = "A large circle sits in the center of a plain white background."
SECOND_BACKGROUND = "A red circle on a white background and a black backdrop."


class Scripted:
    """A rewriter that answers from a script, one entry per call; an exception entry is raised."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, prompt):
        answer = self.answers[self.calls]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_passing_first_rewrite_is_used():
    rewriter = Scripted(FAITHFUL)
    result = guarded_rewrite(PROMPT, rewriter)
    assert (result.text, result.used_fallback, result.attempts, result.failures) == (FAITHFUL, False, 1, [])
    assert rewriter.calls == 1


def test_a_failing_rewrite_is_resampled():
    result = guarded_rewrite(PROMPT, Scripted(DROPS_COLOUR, SECOND_BACKGROUND, FAITHFUL))
    assert (result.text, result.used_fallback, result.attempts) == (FAITHFUL, False, 3)
    assert result.failures == [
        "attempt 1: drops the colour red of the circle",
        "attempt 2: adds a second background black",
    ]
    assert result.note == "rewritten on attempt 3 of 3"
    assert result.rejected == [DROPS_COLOUR, SECOND_BACKGROUND]  # what each failed attempt wrote


def test_after_every_try_fails_the_prompt_is_used_and_said():
    rewriter = Scripted(DROPS_COLOUR, SECOND_BACKGROUND, FAITHFUL)
    result = guarded_rewrite(PROMPT, rewriter, tries=2)
    assert (result.text, result.used_fallback, result.attempts) == (PROMPT, True, 2)
    assert result.failures == [
        "attempt 1: drops the colour red of the circle",
        "attempt 2: adds a second background black",
    ]
    assert "drawn from the prompt as written" in result.note
    assert rewriter.calls == 2


@pytest.mark.parametrize("prompt", ["", "   ", "\n"])
def test_an_empty_prompt_passes_through_without_a_call(prompt):
    rewriter = Scripted()  # any call would fail on the empty script
    result = guarded_rewrite(prompt, rewriter)
    assert (result.text, result.used_fallback, result.attempts, result.failures) == (prompt, False, 0, [])
    assert rewriter.calls == 0


def test_a_raising_rewriter_is_a_failed_attempt():
    result = guarded_rewrite(PROMPT, Scripted(ConnectionError("endpoint down"), FAITHFUL))
    assert (result.text, result.attempts) == (FAITHFUL, 2)
    assert result.failures == ["attempt 1: the rewriter raised ConnectionError: endpoint down"]
    assert result.rejected == [""]  # no text came back


def test_a_rewriter_that_always_raises_falls_back():
    result = guarded_rewrite(PROMPT, Scripted(*[RuntimeError("boom")] * 3))
    assert (result.text, result.used_fallback, result.attempts) == (PROMPT, True, 3)
    assert all(f.endswith("the rewriter raised RuntimeError: boom") for f in result.failures)


def test_nonsense_answers_are_failed_attempts():
    result = guarded_rewrite(PROMPT, Scripted(None, "   ", 42), tries=3)
    assert result.used_fallback
    assert result.failures == [
        "attempt 1: the rewriter returned NoneType, not text",
        "attempt 2: the rewriter returned an empty text",
        "attempt 3: the rewriter returned int, not text",
    ]
    assert result.rejected == ["", "", ""]


def test_a_stalled_rewriter_times_out():
    release = threading.Event()
    answers = iter([None, FAITHFUL])

    def rewriter(prompt):
        answer = next(answers)
        if answer is None:
            release.wait(5)  # stalls until the test lets it go
            return FAITHFUL
        return answer

    try:
        result = guarded_rewrite(PROMPT, rewriter, timeout_s=0.05)
    finally:
        release.set()
    assert (result.text, result.attempts) == (FAITHFUL, 2)
    assert result.failures == ["attempt 1: the rewriter gave no answer within 0.05 s"]


def test_out_of_world_words_must_survive():
    prompt = "a cat on a red mat"
    result = guarded_rewrite(prompt, Scripted("A red mat on a gray background.", "A cat sits on a red mat, on gray."))
    assert result.text == "A cat sits on a red mat, on gray."
    assert result.failures == ["attempt 1: drops the word 'cat'"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tries": 0}, "tries must be an integer >= 1, got 0"),
        ({"tries": True}, "tries must be an integer >= 1, got True"),
        ({"timeout_s": 0}, "timeout_s must be > 0 or None, got 0"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        guarded_rewrite(PROMPT, Scripted(FAITHFUL), **kwargs)


def test_a_prompt_must_be_text():
    with pytest.raises(TypeError, match="prompt must be a str, got NoneType"):
        guarded_rewrite(None, Scripted(FAITHFUL))  # pyright: ignore[reportArgumentType]  # on purpose


def test_fallback_stats_add_up():
    stats = FallbackStats()
    assert stats.fallback_rate is None and stats.attempt_pass_rate is None
    stats.add(guarded_rewrite(PROMPT, Scripted(FAITHFUL)))
    stats.add(guarded_rewrite(PROMPT, Scripted(DROPS_COLOUR, FAITHFUL)))
    stats.add(guarded_rewrite(PROMPT, Scripted(DROPS_COLOUR, DROPS_COLOUR, DROPS_COLOUR)))
    stats.add(guarded_rewrite("", Scripted()))
    assert stats.as_dict() == {
        "prompts": 4,
        "skipped": 1,
        "too_long": 0,
        "rewritten": 2,
        "fallbacks": 1,
        "first_try": 1,
        "attempts": 6,
        "fallback_rate": 1 / 3,
        "attempt_pass_rate": 2 / 6,
    }
