"""The places rule of `forbid_contradictions`: a rewrite may not place one of the prompt's
things in more cells than the prompt allows (its count; one for a thing named once in the
singular), the intent check's own rule (compare.place_limits).

A place word ("top", "left", "center", ...) can complete a cell only right after a preposition,
a determiner or another place word ("in the |top|", "at the bottom |right|"); only there, and
only once a thing has as many cells as it may have, is each one tried, by reading the rewrite
with it added and counting the cells again. A word is banned when it, and it followed by "left"
or by "right", each take a thing past both its limit and the cells the rewrite already gives it
(counted without the place words the text ends with, a place still being written)
("It is in the |top|" stays open where "top left" is the thing's own cell; a rewrite that has
already placed too many is not asked to stop placing what it placed). A reading takes about
1.6 ms here."""

from __future__ import annotations

from components.world.caption_facts import ObjectMention

from .compare import placed_counts
from .intent import read_intent
from .phrases import PLACE_LEADS, PLACE_WORDS

_ORDERED_PLACE_WORDS = tuple(sorted(PLACE_WORDS))
_COLUMN_WORDS = ("left", "right")  # what may follow a row or centre word to name another cell


def _without_place_in_progress(text: str) -> str:
    """`text` less the place words it ends with: "in the top" still becomes "in the top left",
    so its cells are counted without it."""
    words = text.rstrip().split(" ")
    while words and words[-1].lower() in PLACE_WORDS:
        words.pop()
    return " ".join(words)


def may_complete_place(tokens: list[str]) -> bool:
    """Whether the next word could complete a place phrase after these tokens of a sentence."""
    return bool(tokens) and tokens[-1] in PLACE_LEADS


def over_placing_words(limits: list[tuple[ObjectMention, int]], text: str) -> frozenset[str]:
    """The place words that, written next after `text`, would place one of the prompt's things
    in more cells than it allows; `limits`: compare.place_limits of the prompt."""
    now = placed_counts(limits, read_intent(_without_place_in_progress(text)))
    if all(placed < limit for (_, limit), placed in zip(limits, now, strict=True)):
        return frozenset()  # one more word places at most one more cell
    ceilings = [max(limit, placed) for (_, limit), placed in zip(limits, now, strict=True)]

    def over(words: str) -> bool:
        after = placed_counts(limits, read_intent(f"{text} {words}"))
        return any(n > ceiling for n, ceiling in zip(after, ceilings, strict=True))

    return frozenset(
        word
        for word in _ORDERED_PLACE_WORDS
        if over(word) and (word in _COLUMN_WORDS or all(over(f"{word} {side}") for side in _COLUMN_WORDS))
    )
