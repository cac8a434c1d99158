"""A prompt as the intent reader sees it: quoted text set aside, lower-case word tokens, the
words outside the world, and the world modifiers that belong to those words.

Quoting follows `components.world.caption_facts`: a quote opens only where no letter or
digit precedes it ("the cat's toy" quotes nothing), and the first quoted text is the sign's.

A world word can describe something outside the world: in "a white cat" the white is the
cat's, not the background's; in "two cats" the count is the cats'. Such modifiers (colour,
background, size and number words directly in front of a run of unknown words) are bound to
the run's last word, and taken out of the tokens the world's reader sees, so that "a white
cat on a red mat" states no background and no colour-only mention. A run followed by a world
noun ("a red wooden circle") modifies that noun: nothing is bound, and the run is left out of
the reader's tokens so that the colour still reaches the circle.
"""

import re
from dataclasses import dataclass

from .vocabulary import BACKGROUND_WORDS, COLOR_WORDS, NUMBER_WORDS, SIZE_WORDS, WORLD_NOUNS, is_known

_QUOTED = re.compile(r"(?<![A-Za-z0-9])(['‘\"“])([^'‘’\"“”\n]{1,40})(['’\"”])(?![A-Za-z])")
# Letters of any script, so that "café" stays one word; digits and punctuation apart.
_TOKEN = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*|\d+|[.,;:!?&]")
_GRID_WORDS = frozenset({"top", "bottom", "middle", "center", "centre", "left", "right", "upper", "lower"})
_CONTRACTIONS = ("'s", "’s", "n't", "n’t", "'re", "’re", "'ll", "’ll", "'ve", "’ve", "'d", "’d", "'m", "’m")
_JOINERS = frozenset({"and", "or", ","})


@dataclass(frozen=True)
class BoundWord:
    """A word outside the world with the world modifiers in front of it: "two white cats" ->
    word "cats", colors {"white"}, size None, count 2."""

    word: str
    colors: frozenset[str]
    size: str | None
    count: int | None


def quoted_texts(text: str) -> list[str]:
    """Every quoted text, stripped, in order: "a sign reads 'OPEN'" -> ["OPEN"]."""
    return [m.group(2).strip() for m in _QUOTED.finditer(text)]


def tokenize(text: str) -> list[str]:
    """Lower-case tokens of `text` with quoted text removed; "top-left" splits into grid words."""
    tokens: list[str] = []
    for token in _TOKEN.findall(_QUOTED.sub(" ", text).lower()):
        parts = token.split("-")
        tokens.extend(parts if len(parts) > 1 and all(p in _GRID_WORDS for p in parts) else [token])
    return tokens


def word_stem(token: str) -> str:
    """The word without a possessive or contraction ending: "cat's" -> "cat", "isn't" -> "is"."""
    for ending in _CONTRACTIONS:
        if token.endswith(ending) and len(token) > len(ending):
            return token[: -len(ending)]
    return token


def is_outside(token: str) -> bool:
    """True for a word token the world does not know (punctuation and numbers are known)."""
    if not token[:1].isalpha():
        return False
    return not (is_known(token) or is_known(word_stem(token)))


def outside_words(tokens: list[str]) -> list[str]:
    """The distinct words outside the world, as stems, in order of first use."""
    seen: dict[str, None] = {}
    for t in tokens:
        if is_outside(t):
            seen.setdefault(word_stem(t), None)
    return list(seen)


def bind_modifiers(tokens: list[str]) -> tuple[list[BoundWord], list[str]]:
    """The world modifiers bound to outside words, and the tokens without them."""
    bound: list[BoundWord] = []
    taken: set[int] = set()
    i = 0
    while i < len(tokens):
        if not is_outside(tokens[i]):
            i += 1
            continue
        start = i
        while i < len(tokens) and is_outside(tokens[i]):
            i += 1
        noun = _world_noun_after(tokens, i)
        if noun is not None:  # "a red wooden circle": the run describes a world noun
            taken.update(range(start, noun))  # and leaves the world's reader "a red circle"
            i = noun
            continue
        modifiers = _modifiers_before(tokens, start)
        if modifiers:
            taken.update(modifiers)
            bound.append(_bound_word(word_stem(tokens[i - 1]), [tokens[j] for j in modifiers]))
    return bound, [t for j, t in enumerate(tokens) if j not in taken]


def _world_noun_after(tokens: list[str], i: int) -> int | None:
    """Index of the world noun the run ending before i describes, directly or through more
    outside words joined by commas and "and" ("a red glowing, pulsing circle"); else None."""
    while i < len(tokens) and tokens[i] in _JOINERS and i + 1 < len(tokens) and is_outside(tokens[i + 1]):
        i += 1
        while i < len(tokens) and is_outside(tokens[i]):
            i += 1
    return i if i < len(tokens) and tokens[i] in WORLD_NOUNS else None


def _is_modifier(token: str) -> bool:
    return token in COLOR_WORDS or token in BACKGROUND_WORDS or token in SIZE_WORDS or _number(token) is not None


def _number(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return NUMBER_WORDS.get(token)


def _modifiers_before(tokens: list[str], start: int) -> list[int]:
    """Indices of the modifiers right before tokens[start], through "and", "or" and commas
    that join modifiers ("a black and white cat")."""
    found: list[int] = []
    j = start - 1
    while j >= 0:
        if _is_modifier(tokens[j]):
            found.append(j)
        elif not (tokens[j] in _JOINERS and found and j > 0 and _is_modifier(tokens[j - 1])):
            break
        j -= 1
    return found


def _bound_word(word: str, modifiers: list[str]) -> BoundWord:
    colors = frozenset(
        COLOR_WORDS.get(m) or BACKGROUND_WORDS[m] for m in modifiers if m in COLOR_WORDS or m in BACKGROUND_WORDS
    )
    sizes = [SIZE_WORDS[m] for m in modifiers if m in SIZE_WORDS]
    counts = [n for m in modifiers if (n := _number(m)) is not None]
    return BoundWord(word=word, colors=colors, size=sizes[0] if sizes else None, count=counts[0] if counts else None)
