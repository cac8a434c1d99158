"""Blocked terms matched against normalised words (normalise.py), at part boundaries.

A term is normalised like the text and kept as its words: "Stop" -> ("stop",),
"bank robbery" -> ("bank", "robbery"). It matches a run of consecutive parts of the text
(parts: the segments words were written in) whose letters are the term's letters, where
- the run starts and ends at part boundaries, so "stop" matches "STOP", "s.t.0.p",
  "non-stop" and "a s t o p", but not "stopwatch" or "a bus top";
- a word boundary of the text (a space) inside the run falls where the term has one, so
  "bank robbery" matches "bank robbery", "bank.robbery" and "bankrobbery", and "stop"
  never matches "s top".
The earliest match in the text wins, then the longest, then the first term in sorted order,
so the result does not depend on the order the terms were listed in.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .normalise import Word, normalise_words


@dataclass(frozen=True)
class TermMatch:
    """term: the term's normalised words joined by spaces ("stop", "bank robbery").
    start, end: the matched fragment's span in the input text."""

    term: str
    start: int
    end: int


def term_words(term: str) -> tuple[str, ...]:
    """A term's normalised words; ValueError when nothing of it is left to match."""
    words = tuple(word.text for word in normalise_words(term))
    if not words:
        raise ValueError(f"blocked term {term!r} has no letters or digits to match")
    return words


class TermMatcher:
    """Every term indexed by its letters, so a text is scanned once per start part."""

    def __init__(self, terms: Iterable[tuple[str, ...]]) -> None:
        # letters -> [(term, positions in the letters where the term has a word boundary)]
        self._by_letters: dict[str, list[tuple[str, frozenset[int]]]] = {}
        for words in sorted(set(terms)):
            ends = frozenset(sum(len(w) for w in words[: i + 1]) for i in range(len(words) - 1))
            self._by_letters.setdefault("".join(words), []).append((" ".join(words), ends))
        self._prefixes = {letters[:n] for letters in self._by_letters for n in range(1, len(letters) + 1)}

    def find(self, words: Sequence[Word]) -> TermMatch | None:
        parts = [(text, span) for word in words for text, span in zip(word.parts, word.spans, strict=True)]
        # spaced[k]: a word boundary lies between parts k and k + 1
        spaced = [k == len(word.parts) - 1 for word in words for k in range(len(word.parts))]
        for a in range(len(parts)):
            letters = ""
            space_at: list[int] = []  # positions in `letters` of word boundaries
            best: TermMatch | None = None
            for b in range(a, len(parts)):
                letters += parts[b][0]
                if letters not in self._prefixes:
                    break
                for term, ends in self._by_letters.get(letters, ()):
                    if all(p in ends for p in space_at):
                        best = TermMatch(term=term, start=parts[a][1][0], end=parts[b][1][1])
                        break
                if spaced[b]:
                    space_at.append(len(letters))
            if best is not None:
                return best
        return None
