"""Place and relation phrases in a token list: "in the top left corner", "at the top of the
image", "the bottom row", "to the left of", "above".

A place names a cell of WORLD.md's 3 x 3 grid by its prose name ("top left", "top" for the
top center, "left" for the middle left, "center"), with synonyms (upper, lower, middle,
centre, "left side", "top right corner"), after a preposition (in, at, on, across, along,
spans ...) so that "right in the middle" reads as the center and not as the right. A bare
vertical word ("at the top") names the top center for an object and the top row for the
sign; "the top row" and "the left column" name a row or a column alone. "to the left of X"
is a relation, but "on the left of the image" is a place; "the top half" and "the edges"
name no cell.

Relations are WORLD.md's four (components/world/relations.py) with the plain synonyms
under, beneath, underneath (below) and "on top of" (above).
"""

from dataclasses import dataclass

from components.world.relations import ABOVE, BELOW, LEFT, RIGHT

_PREPOSITIONS = frozenset(
    {"in", "at", "on", "along", "across", "into", "toward", "towards", "near", "spans", "spanning", "span"}
    | {"fills", "filling", "fill", "occupies", "occupying", "occupy", "covers", "covering"}
)
_DETERMINERS = frozenset({"the", "its", "their", "this"})
_ROWS = {"top": 0, "upper": 0, "bottom": 2, "lower": 2}
_CENTRE = frozenset({"middle", "center", "centre", "central"})
_COLS = {"left": 0, "right": 2}
_CELL_TAILS = frozenset({"corner", "side", "part", "area", "cell", "region", "portion", "section", "spot", "square"})
_NOT_A_CELL = frozenset({"half", "edge", "edges", "border", "borders", "margin", "margins", "third", "thirds"})
_IMAGE_NOUNS = frozenset({"image", "picture", "canvas", "frame", "scene", "grid", "photo", "illustration"})
_IMAGE_NOUNS |= {"background", "backdrop", "drawing", "composition"}
PLACE_WORDS = frozenset(_ROWS) | _CENTRE | frozenset(_COLS)  # the words that name a cell's row or column
PLACE_LEADS = _PREPOSITIONS | _DETERMINERS | PLACE_WORDS  # after these, one place word may complete a cell
_SIMPLE_RELATIONS = {"above": ABOVE, "below": BELOW, "under": BELOW, "beneath": BELOW, "underneath": BELOW}


@dataclass(frozen=True)
class PlacePhrase:
    """Tokens [start, end) name a cell, a row (col None) or a column (row None).
    `bare`: a lone vertical word ("at the top"), whose column the sign ignores."""

    start: int
    end: int
    row: int | None
    col: int | None
    bare: bool = False


@dataclass(frozen=True)
class RelationPhrase:
    """Tokens [start, end) say `relation` of what comes before to what comes after."""

    start: int
    end: int
    relation: str


Phrase = PlacePhrase | RelationPhrase


def find_phrases(tokens: list[str]) -> list[Phrase]:
    """Every place and relation phrase, left to right, none overlapping."""
    phrases: list[Phrase] = []
    i = 0
    while i < len(tokens):
        phrase = _relation_at(tokens, i) or _place_at(tokens, i) or _line_at(tokens, i)
        if phrase is None:
            i += 1
        else:
            phrases.append(phrase)
            i = phrase.end
    return phrases


def _at(tokens: list[str], i: int) -> str:
    return tokens[i] if 0 <= i < len(tokens) else ""


def _image_follows(tokens: list[str], i: int) -> int | None:
    """End index of "of the image" ("of a plain white canvas") starting at i, or None."""
    if _at(tokens, i) != "of":
        return None
    j = i + 1 + (_at(tokens, i + 1) in _DETERMINERS or _at(tokens, i + 1) in ("a", "an"))
    for k in range(j, j + 3):  # up to two adjectives before the noun
        if _at(tokens, k) in _IMAGE_NOUNS:
            return k + 1
        if not _at(tokens, k).isalpha():
            return None
    return None


def _relation_at(tokens: list[str], i: int) -> RelationPhrase | None:
    t = _at(tokens, i)
    if t in _SIMPLE_RELATIONS:
        return RelationPhrase(i, i + 1, _SIMPLE_RELATIONS[t])
    if t == "on" and _at(tokens, i + 1) == "top" and _at(tokens, i + 2) == "of":
        return None if _image_follows(tokens, i + 2) else RelationPhrase(i, i + 3, ABOVE)
    j = i
    if t in ("to", "on", "at") and _at(tokens, i + 1) == "the":
        j = i + 2
    side = _at(tokens, j)
    if side in _COLS and _at(tokens, j + 1) == "of" and _image_follows(tokens, j + 1) is None:
        return RelationPhrase(i, j + 2, LEFT if side == "left" else RIGHT)
    return None


def _place_at(tokens: list[str], i: int) -> PlacePhrase | None:
    """A preposition, an optional determiner, then cell words."""
    if _at(tokens, i) not in _PREPOSITIONS:
        return None
    j = i + 1 + (_at(tokens, i + 1) in _DETERMINERS)
    if _at(tokens, j) in ("very", "far"):
        j += 1
    return _cell_words(tokens, i, j)


def _line_at(tokens: list[str], i: int) -> PlacePhrase | None:
    """ "the top row", "the left column" without a preposition."""
    if _at(tokens, i + 1) in ("row", "rows") and (_at(tokens, i) in _ROWS or _at(tokens, i) in _CENTRE):
        return PlacePhrase(i, i + 2, _ROWS.get(_at(tokens, i), 1), None)
    if _at(tokens, i + 1) in ("column", "columns") and (_at(tokens, i) in _COLS or _at(tokens, i) in _CENTRE):
        return PlacePhrase(i, i + 2, None, _COLS.get(_at(tokens, i), 1))
    return None


def _cell_words(tokens: list[str], start: int, j: int) -> PlacePhrase | None:
    first, second = _at(tokens, j), _at(tokens, j + 1)
    bare = False
    if first in _ROWS:
        row = _ROWS[first]
        if second in _COLS or second in _CENTRE:
            col, j = _COLS.get(second, 1), j + 2
        else:
            col, j, bare = 1, j + 1, True
    elif first in _CENTRE:
        row = 1
        if second in _COLS:
            col, j = _COLS[second], j + 2
        else:
            col, j, bare = 1, j + 1, True
    elif first in _COLS:
        row, col, j = 1, _COLS[first], j + 1
    else:
        return None
    tail = _at(tokens, j)
    if tail in _NOT_A_CELL:
        return None
    if tail in ("row", "rows"):
        return PlacePhrase(start, j + 1, row, None) if first in _ROWS or first in _CENTRE else None
    if tail in ("column", "columns"):
        return PlacePhrase(start, j + 1, None, col) if first in _COLS or first in _CENTRE else None
    if tail in _CELL_TAILS or tail == "corners":
        j += 1
    if _at(tokens, j) == "of":
        end = _image_follows(tokens, j)
        if end is None:
            return None  # "at the top of the square": a part of something, not a cell
        j = end
    return PlacePhrase(start, j, row, col, bare)
