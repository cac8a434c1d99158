"""Text normalisation before blocked terms and patterns are matched: evasions fold back.

The rule, in order:
1. Characters, one at a time (so every output character keeps the index of the input
   character it came from, and a match can name the fragment it was found in):
   NFKC (full-width, circled, mathematical and ligature forms become plain letters), then
   canonical decomposition with combining marks and format characters dropped (accents;
   zero-width space, joiners, word joiner, BOM, soft hyphen and other category-Cf
   characters vanish, joining what they split), then confusable letters mapped to the
   Latin letters they look like (Cyrillic and Greek; upper and lower case separately,
   since Greek `Η` looks like H and `η` like n), then casefolding.
2. Segments: maximal runs of word characters (letters, digits, `@`, `$`). Everything else
   separates segments.
3. Words: two neighbouring segments belong to one word when
   - the separator between them is punctuation only, from _JOINERS (`.` `-` `_` `'` `*`
     `·` and dashes), with no space: "s.t.o.p", "st-op", "stop-sign"; or
   - both segments are a single character, whatever separates them: "s t o p",
     "S.t 0 p", "s / t / o / p" (a word spelled out letter by letter).
   A space between two segments of which one is longer than a character is a word
   boundary: "a bus top" stays three words, never "abustop" or "bustop".
4. Digit and symbol swaps (0 o, 1 i, 3 e, 4 a, 5 s, 7 t, 8 b, 9 g, @ a, $ s) apply in
   words that hold at least one letter: "5t0p" and "$TOP" read "stop", while "2 red
   circles" and "$5" keep their digits.

`normalise_text` joins the words with single spaces ("S.T.0.P-sign!" -> "stopsign").
`normalise_words` keeps each word's segments (its parts) and where each came from in the
input; blocked terms match whole parts (terms.py), so "non-stop" holds "stop" but
"stopwatch" does not. Not caught, by design: a word cut into chunks longer than one
letter by spaces ("st op"), which cannot be told from two words.
"""

import unicodedata
from dataclasses import dataclass

# Letters that look like Latin ones, by case (applied before and after casefolding).
_CONFUSABLES: dict[str, str] = {
    # Cyrillic capitals
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ԛ": "Q", "Ԝ": "W", "Ү": "Y",
    "Һ": "H", "Ӏ": "I",
    # Cyrillic small letters
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ү": "y", "һ": "h", "ӏ": "l",
    # Greek capitals
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Greek small letters
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u", "ν": "v",
    "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
    # Armenian and Latin look-alikes
    "օ": "o", "ո": "n", "ս": "u", "հ": "h", "ı": "i", "ɑ": "a", "ɡ": "g", "ɩ": "i",
}  # fmt: skip

# Digit and symbol swaps, applied only inside words that hold a letter.
_SWAPS: dict[str, str] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s",
}  # fmt: skip

_SYMBOLS = frozenset("@$")  # word characters besides letters and digits
# Punctuation that joins the segments on its two sides when nothing else lies between them.
_JOINERS = frozenset(".-_'*·‧’‐‑‒–—―")
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})  # combining marks, format characters


@dataclass(frozen=True)
class Word:
    """One normalised word: its parts (the segments it was written in) and, for each
    part, the (start, end) character span of the input it came from.

    "s.t.0.p" -> parts ("s", "t", "o", "p"); "stop-sign" -> ("stop", "sign")."""

    parts: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]

    @property
    def text(self) -> str:
        return "".join(self.parts)


def fold_char(char: str) -> str:
    """Step 1 for one input character: '' for a dropped one, possibly several letters
    ('ﬀ' -> 'ff', 'ß' -> 'ss')."""
    folded = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", char))
    folded = "".join(c for c in folded if unicodedata.category(c) not in _DROPPED_CATEGORIES)
    folded = "".join(_CONFUSABLES.get(c, c) for c in folded).casefold()
    return "".join(_CONFUSABLES.get(c, c) for c in folded)


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c in _SYMBOLS


def _segments(text: str) -> tuple[list[tuple[str, int, int]], list[str]]:
    """Segments as (folded text, input start, input end), and the folded separator
    between each segment and the next (len(segments) - 1 of them)."""
    segments: list[tuple[str, int, int]] = []
    separators: list[str] = []
    current: list[str] = []
    start = end = 0
    gap: list[str] = []
    for index, char in enumerate(text):
        for c in fold_char(char):
            if _is_word_char(c):
                if not current:
                    if segments:
                        separators.append("".join(gap))
                    gap, start = [], index
                current.append(c)
                end = index + 1
            else:
                if current:
                    segments.append(("".join(current), start, end))
                    current = []
                gap.append(c)
    if current:
        segments.append(("".join(current), start, end))
    return segments, separators


def _joined(left: str, separator: str, right: str) -> bool:
    if all(c in _JOINERS for c in separator):
        return True
    return len(left) == 1 and len(right) == 1


def _word(parts: list[tuple[str, int, int]]) -> Word:
    has_letter = any(c.isalpha() for text, _, _ in parts for c in text)
    texts = tuple("".join(_SWAPS.get(c, c) for c in text) if has_letter else text for text, _, _ in parts)
    return Word(parts=texts, spans=tuple((start, end) for _, start, end in parts))


def normalise_words(text: str) -> list[Word]:
    """The words of `text` after the module's rule, in order."""
    segments, separators = _segments(text)
    words: list[Word] = []
    group: list[tuple[str, int, int]] = []
    for k, segment in enumerate(segments):
        if group and not _joined(group[-1][0], separators[k - 1], segment[0]):
            words.append(_word(group))
            group = []
        group.append(segment)
    if group:
        words.append(_word(group))
    return words


def normalise_text(text: str) -> str:
    """`text` after the module's rule, its words joined by single spaces:
    "S.t 0 p" -> "stop", "ＳＴＯＰ" -> "stop", "2 red circles" -> "2 red circles"."""
    return " ".join(word.text for word in normalise_words(text))
