"""The Upsampler: the guard around one rewriter, and a prompt past the rewriter's context
passing through without a call."""

import pytest

from components.upsampling.upsampler import Upsampler

PROMPT = "a red circle on white"
FAITHFUL = "A big red circle sits in the middle of a plain white background."


class Counting:
    """A rewriter that reads at most `context` characters and counts its calls."""

    def __init__(self, text: str, context: int = 100) -> None:
        self.text, self.context, self.calls = text, context, 0

    def __call__(self, prompt: str) -> str:
        self.calls += 1
        return self.text

    def prompt_fits(self, prompt: str) -> bool:
        return len(prompt) <= self.context


def test_a_faithful_rewrite_is_drawn_from():
    upsampler = Upsampler(Counting(FAITHFUL))
    result = upsampler.upsample(PROMPT)
    assert (result.text, result.used_fallback, result.attempts) == (FAITHFUL, False, 1)
    assert upsampler.stats.rewritten == 1


def test_a_prompt_past_the_context_passes_through_unchanged_with_a_note():
    rewriter = Counting(FAITHFUL, context=10)
    upsampler = Upsampler(rewriter)
    result = upsampler.upsample(PROMPT)
    assert result.text == PROMPT and result.used_fallback and result.attempts == 0
    assert "longer than the rewriter's context" in result.note
    assert rewriter.calls == 0
    assert (upsampler.stats.too_long, upsampler.stats.skipped, upsampler.stats.fallbacks) == (1, 0, 0)


def test_an_empty_prompt_is_not_rewritten():
    rewriter = Counting(FAITHFUL)
    result = Upsampler(rewriter).upsample("")
    assert result.text == "" and not result.used_fallback and rewriter.calls == 0


def test_upsample_many_gives_k_guarded_rewrites():
    upsampler = Upsampler(Counting("A blue square."), tries=2)  # drops the red circle: always falls back
    results = upsampler.upsample_many(PROMPT, 3)
    assert [r.text for r in results] == [PROMPT] * 3
    assert upsampler.stats.fallbacks == 3 and upsampler.stats.attempts == 6
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        upsampler.upsample_many(PROMPT, 0)
