"""What an upsampler does to prompts, with scripted rewriters whose answers are known: the
intent shares before and after the guard, the diversity, and the upsampled benchmark entries
judged by the user's prompt's own clauses."""

from __future__ import annotations

import pytest

from components.evaluation.benchmark import benchmark_suite, entry_from_metadata, metadata_line
from components.evaluation.upsampling import UPSAMPLED, measure_diversity, measure_intent, upsampled_entries
from components.upsampling.upsampler import Upsampler


class Script:
    """Answers from a dict by prompt, in turn; a prompt not in it gets "A blank picture."."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = {k: list(v) for k, v in answers.items()}

    def __call__(self, prompt: str) -> str:
        queue = self.answers.get(prompt, [])
        return queue.pop(0) if queue else "A blank picture."


def test_intent_before_and_after_the_guard_and_the_fallbacks():
    rewriter = Script(
        {
            "a red circle": ["A big red circle on white."],  # passes first
            "a blue square": ["A green square.", "A small blue square in the corner."],  # passes second
            "two yellow triangles": ["A yellow triangle.", "Three yellow triangles.", "Yellow things."],  # falls back
        }
    )
    prompts = [("colors", "a red circle"), ("colors", "a blue square"), ("counting", "two yellow triangles")]
    rows, examples = measure_intent(Upsampler(rewriter, tries=3), prompts)
    by = {r.category: r for r in rows}
    assert list(by) == ["colors", "counting", "all"]
    assert (by["all"].before.passed, by["all"].after.passed, by["all"].fallbacks.passed) == (1, 3, 1)
    assert (by["colors"].before.passed, by["colors"].prompts) == (1, 2)
    second = examples[1]
    assert second.first == "A green square." and second.drawn == "A small blue square in the corner."  # the failed one
    assert second.first_failures and "blue" in second.first_failures[0]
    assert examples[2].used_fallback and examples[2].drawn == "two yellow triangles"


def test_diversity_counts_distinct_rewrites_and_their_lengths():
    rewriter = Script(
        {"a red circle": ["A red circle.", "A big red circle.", "A red circle.", "A red circle on gray."]}
    )
    diversity = measure_diversity(
        Upsampler(rewriter), ["a red circle"], 4, ["one two three", "one two three four five"]
    )
    assert diversity.distinct_share == pytest.approx(3 / 4)
    assert diversity.rewrite_words["mean"] == pytest.approx((3 + 4 + 3 + 5) / 4)
    assert diversity.caption_words["mean"] == pytest.approx(4.0)


def test_upsampled_entries_keep_the_prompts_clauses_and_say_what_the_user_wrote():
    entries = benchmark_suite(1)
    rewrites = {e.prompt: [f"{e.prompt} Nothing else is in the picture."] for e in entries if e.form == "short"}
    upsampled = upsampled_entries(entries, Upsampler(Script(rewrites)), forms=("short",))
    shorts = [e for e in entries if e.form == "short"]
    assert [e.index for e in upsampled] == list(range(len(entries), len(entries) + len(shorts)))
    for source, entry in zip(shorts, upsampled, strict=True):
        assert entry.form == UPSAMPLED["short"] and entry.user_prompt == source.prompt
        assert entry.clauses == source.clauses and entry.prompt_id == source.prompt_id
        assert entry.prompt in (source.prompt, rewrites[source.prompt][0])  # the rewrite, or the prompt on fallback
        assert entry_from_metadata(entry.index, metadata_line(entry)) == entry  # GenEval's layout round-trips it
    with pytest.raises(ValueError, match="have no upsampled form"):
        upsampled_entries(entries, Upsampler(Script({})), forms=("long",))
