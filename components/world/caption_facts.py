"""Reading the facts a caption asserts: colour-shape mentions (with sizes and counts),
which of them sit under a negation, the quoted sign word and the background.

Used to score captions: object recall (true objects named), hallucination (named
colour-shape pairs that are absent, outside negations) and the truth of negatives.

How a caption is read:
- Quoted text ('OPEN', "OPEN", curly quotes) is the sign's word and is removed before the
  rest is read; without quotes, an all-capitals vocabulary word counts.
- A noun phrase is [number | a | the ...] [size] [colours joined by and/or/commas]
  [size] [filler adjectives] shape-noun: "two big red circles", "a red big circle",
  "5 tiny blue squares", "red and blue crosses", "a green plus sign". Numbers (words or
  digits) directly in front give the count; "a"/"an" give none, and "another"/"other"/
  "more" drop it. Colours with no shape after them ("Nothing is green.", "no purple
  shapes") are colour-only mentions; shape nouns alone are shape-only mentions.
- Negation ("no", "not", "none", "nothing", "without", "never", "neither", "nor", "-n't")
  covers what follows it up to the end of its clause: a sentence end, ";", ":", "but",
  "while", "though", "although", "whereas", "except", or a comma that does not continue
  a list ("no triangles, crosses or squares" stays negative).
- Background: a white/gray/grey/black word not followed by a sign noun ("white sign",
  "black letters"), preferring one next to "background"/"backdrop"/"canvas".
Colours are read only in attributive position ("a red circle"); "the circle is red"
gives a colour-only mention.
"""

import re
from dataclasses import dataclass

from .palette import VOCABULARY

_COLOR_WORDS = {
    "red": "red",
    "orange": "orange",
    "yellow": "yellow",
    "green": "green",
    "blue": "blue",
    "purple": "purple",
    "violet": "purple",
    "pink": "pink",
    "brown": "brown",
}
_BACKGROUND_WORDS = {"white": "white", "gray": "gray", "grey": "gray", "black": "black"}
_SIZE_WORDS = {"small": "small", "little": "small", "tiny": "small", "large": "large", "big": "large", "huge": "large"}
_SHAPE_NOUNS = {
    "circle": ("circle", False),
    "circles": ("circle", True),
    "disc": ("circle", False),
    "discs": ("circle", True),
    "disk": ("circle", False),
    "disks": ("circle", True),
    "dot": ("circle", False),
    "dots": ("circle", True),
    "square": ("square", False),
    "squares": ("square", True),
    "triangle": ("triangle", False),
    "triangles": ("triangle", True),
    "cross": ("cross", False),
    "crosses": ("cross", True),
    "pluses": ("cross", True),
}
_PLUS_NOUNS = {"sign": False, "signs": True, "shape": False, "shapes": True, "symbol": False, "symbols": True}
_SHAPE_ADJECTIVES = {
    "circular": "circle",
    "round": "circle",
    "triangular": "triangle",
    "cross-shaped": "cross",
    "plus-shaped": "cross",
    "square-shaped": "square",
}
_GENERIC_NOUNS = {
    "shape",
    "shapes",
    "object",
    "objects",
    "thing",
    "things",
    "figure",
    "figures",
    "item",
    "items",
    "ones",
    "form",
    "forms",
}
_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_DETERMINERS = {
    "a",
    "an",
    "the",
    "some",
    "any",
    "all",
    "each",
    "every",
    "its",
    "their",
    "this",
    "that",
    "these",
    "those",
}
_RELATIVE = {"another", "other", "more", "additional", "further", "extra", "others"}
_FILLER = {
    "solid",
    "bright",
    "flat",
    "plain",
    "simple",
    "identical",
    "same",
    "matching",
    "equal",
    "colored",
    "coloured",
    "colorful",
    "colourful",
    "filled",
    "light",
    "dark",
    "vivid",
    "pale",
    "single",
    "lone",
    "sized",
    "similar",
    "uniform",
    "clean",
    "crisp",
    "neat",
    "upright",
    "deep",
    "rich",
}
_NEGATIONS = {"no", "not", "none", "nothing", "without", "never", "neither", "nor", "nobody", "nowhere", "cannot"}
_CLAUSE_BREAKS = {".", ";", ":", "!", "?", "but", "while", "though", "although", "whereas", "except", "yet"}
_LIST_JOINERS = {"and", "or", "nor", "&"}
_SIGN_NOUNS = {
    "sign",
    "signs",
    "letters",
    "letter",
    "capitals",
    "capital",
    "lettering",
    "text",
    "border",
    "outline",
    "frame",
    "writing",
    "word",
    "words",
    "font",
    "ink",
    "type",
    "print",
    "edge",
    "edges",
    "caps",
    "signboard",
}
_NEGATABLE_SIGN_NOUNS = {"sign", "signs", "text", "writing", "words", "word", "lettering", "letters", "signboard"}
_BACKGROUND_NOUNS = {"background", "backdrop", "canvas", "backgrounds", "field", "ground"}

_QUOTED = re.compile(r"(?<![A-Za-z0-9])(['‘\"“])([^'‘’\"“”\n]{1,40})(['’\"”])(?![A-Za-z])")
_TOKEN = re.compile(r"[a-z]+(?:[-'’][a-z]+)*|\d+|[.,;:!?&]")


@dataclass(frozen=True)
class ObjectMention:
    """One thing a caption names: any of colour, shape, size, and a stated count."""

    color: str | None
    shape: str | None
    size: str | None
    count: int | None
    plural: bool

    def matches(self, obj) -> bool:
        """True when `obj` (anything with color, shape, size) has every named attribute."""
        return (
            (self.color is None or obj.color == self.color)
            and (self.shape is None or obj.shape == self.shape)
            and (self.size is None or obj.size == self.size)
        )


@dataclass(frozen=True)
class CaptionFacts:
    mentions: tuple[ObjectMention, ...]  # asserted, outside negations
    negated: tuple[ObjectMention, ...]  # inside a negation: "no blue squares"
    sign_text: str | None
    sign_negated: bool  # "there is no sign", "no text"
    background: str | None

    @property
    def pairs(self) -> frozenset[tuple[str, str]]:
        """(colour, shape) pairs the caption asserts."""
        return frozenset((m.color, m.shape) for m in self.mentions if m.color and m.shape)

    @property
    def negated_pairs(self) -> frozenset[tuple[str, str]]:
        return frozenset((m.color, m.shape) for m in self.negated if m.color and m.shape)

    @property
    def colors(self) -> frozenset[str]:
        return frozenset(m.color for m in self.mentions if m.color)

    @property
    def shapes(self) -> frozenset[str]:
        return frozenset(m.shape for m in self.mentions if m.shape)

    @property
    def counts(self) -> tuple[ObjectMention, ...]:
        """Asserted mentions with a stated count ("two red circles")."""
        return tuple(m for m in self.mentions if m.count is not None)


def extract_facts(text: str) -> CaptionFacts:
    sign_text = None
    quoted = _QUOTED.search(text)
    if quoted:
        sign_text = quoted.group(2).strip().upper()
    else:
        for word in re.findall(r"\b[A-Z]{2,}\b", text):
            if word in VOCABULARY:
                sign_text = word
                break
    stripped = _QUOTED.sub(" ", text)
    tokens = _TOKEN.findall(stripped.lower())
    reader = _Reader(tokens)
    reader.read()
    return CaptionFacts(
        mentions=tuple(reader.positive),
        negated=tuple(reader.negative),
        sign_text=sign_text,
        sign_negated=reader.sign_negated,
        background=reader.background(),
    )


class _Reader:
    """One left-to-right pass over the tokens, building noun phrases and tracking negation."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.positive: list[ObjectMention] = []
        self.negative: list[ObjectMention] = []
        self.sign_negated = False
        self.negated = False
        self.negated_at: set[int] = set()  # token indices under negation
        self._reset()

    def _reset(self) -> None:
        self.count: int | None = None
        self.size: str | None = None
        self.colors: list[str] = []
        self.shape_adjective: str | None = None
        self.relative = False

    def _emit(self, shape: str | None, plural: bool) -> None:
        count = None if self.relative else self.count
        colors = self.colors or [None]
        if shape is None and not self.colors:
            self._reset()
            return
        target = self.negative if self.negated else self.positive
        for color in colors:
            target.append(ObjectMention(color=color, shape=shape, size=self.size, count=count, plural=plural))
        self._reset()

    def _flush(self) -> None:
        """End the current phrase; pending colours or a shape adjective become a mention."""
        if self.colors or self.shape_adjective:
            self._emit(self.shape_adjective, plural=False)
        self._reset()

    def _continues_list(self, i: int) -> bool:
        nxt = self.tokens[i + 1] if i + 1 < len(self.tokens) else ""
        return (
            nxt in _COLOR_WORDS
            or nxt in _SIZE_WORDS
            or nxt in _SHAPE_NOUNS
            or nxt in _NUMBERS
            or nxt.isdigit()
            or nxt in ("or", "nor", "plus")
            or nxt in _SHAPE_ADJECTIVES
        )

    def _directly_negated(self, i: int) -> bool:
        """The sign noun at i is what the negation denies: only determiners, "any",
        "white", "or" and other sign nouns stand between them ("no sign or text",
        "not any white sign"), unlike "nothing else shares the row with the sign"."""
        j = i - 1
        while j >= 0 and j in self.negated_at:
            t = self.tokens[j]
            if t in _NEGATIONS or t.endswith("n't") or t.endswith("n’t"):
                return True
            if not (t in _DETERMINERS or t in _NEGATABLE_SIGN_NOUNS or t in ("or", "white", "visible", "readable")):
                return False
            j -= 1
        return False

    def read(self) -> None:
        tokens = self.tokens
        i = 0
        while i < len(tokens):
            t = tokens[i]
            if self.negated:
                self.negated_at.add(i)
            if t in _NEGATIONS or t.endswith("n't") or t.endswith("n’t"):
                self._flush()
                self.negated = True
                self.negated_at.add(i)
            elif t in _CLAUSE_BREAKS:
                self._flush()
                self.negated = False
            elif t == ",":
                if self.colors and i + 1 < len(tokens) and tokens[i + 1] in _COLOR_WORDS:
                    pass  # "red, blue and green circles"
                else:
                    self._flush()
                    if not self._continues_list(i):
                        self.negated = False
            elif t in _NUMBERS or t.isdigit():
                self._flush()
                self.count = _NUMBERS.get(t) or int(t)
            elif t in _DETERMINERS:
                self._flush()
            elif t in _SIZE_WORDS:
                self.size = _SIZE_WORDS[t]
            elif t in _COLOR_WORDS:
                self.colors.append(_COLOR_WORDS[t])
            elif t in _LIST_JOINERS:
                nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
                if not (self.colors and nxt in _COLOR_WORDS):
                    self._flush()
            elif t in _RELATIVE:
                self.relative = True
            elif t in _FILLER:
                pass
            elif t in _SHAPE_ADJECTIVES:
                self.shape_adjective = _SHAPE_ADJECTIVES[t]
            elif t in _SHAPE_NOUNS:
                shape, plural = _SHAPE_NOUNS[t]
                self._emit(shape, plural)
            elif t == "plus" and i + 1 < len(tokens) and tokens[i + 1] in _PLUS_NOUNS:
                self._emit("cross", _PLUS_NOUNS[tokens[i + 1]])
                i += 1
                if self.negated:
                    self.negated_at.add(i)
            elif t in _GENERIC_NOUNS:
                if self.colors or self.shape_adjective:
                    self._emit(self.shape_adjective, plural=t.endswith("s"))
                else:
                    self._reset()
            else:
                if self.negated and t in _NEGATABLE_SIGN_NOUNS and self._directly_negated(i):
                    self.sign_negated = True
                self._flush()
            i += 1
        self._flush()

    def background(self) -> str | None:
        tokens = self.tokens
        candidates = []
        for i, t in enumerate(tokens):
            if t not in _BACKGROUND_WORDS or i in self.negated_at:
                continue
            following = []
            for t2 in tokens[i + 1 : i + 3]:
                if not t2.isalpha():
                    break
                following.append(t2)
            # "white sign", "black capital letters": the word colours the sign, not the background.
            if following and (
                following[0] in _SIGN_NOUNS or (following[-1] in _SIGN_NOUNS and following[0] not in _BACKGROUND_NOUNS)
            ):
                continue
            strong = any(n in _BACKGROUND_NOUNS for n in _same_sentence(tokens, i, 5))
            candidates.append((not strong, i, _BACKGROUND_WORDS[t]))
        return min(candidates)[2] if candidates else None


def _same_sentence(tokens: list[str], i: int, reach: int) -> list[str]:
    """Up to `reach` tokens each side of token i, stopping at sentence punctuation."""
    stops = {".", "!", "?", ";"}
    lo = i
    while lo > 0 and i - lo < reach and tokens[lo - 1] not in stops:
        lo -= 1
    hi = i
    while hi + 1 < len(tokens) and hi - i < reach and tokens[hi + 1] not in stops:
        hi += 1
    return tokens[lo : hi + 1]
