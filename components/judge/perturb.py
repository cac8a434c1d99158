"""Hard negatives: a true caption turned false by one small, typed edit of its text.

The alignment judge scores image-caption pairs, and a CLIP-style dual encoder tends to
read a caption as a bag of words: "a red circle and a blue square" and "a blue circle and
a red square" hold the same words and score alike (Yuksekgonul et al., "When and why
vision-language models behave like bags-of-words", ICLR 2023). NegCLIP's remedy is to
train on hard negatives, the true caption with its attributes or nouns swapped, so the
judge must bind each colour to its shape. Swapped and invented objects are also this
captioner's typical errors, so the same edits plant known errors to measure the judge's
recall per error type, and `repeated_sentence` / `truncation` feed the repetition and
length filters their own test cases.

Every edit works on the caption text alone, never on a scene record, so it applies to
any caption, curated or generated. Kinds (`PERTURBATIONS`):
- colour_swap: two asserted colour-shape mentions with different colours and shapes
  exchange colours ("red circle ... blue square" -> "blue circle ... red square").
- shape_swap: one asserted mention's shape noun becomes another world shape.
- count_change: a count in front of a mention becomes another count in 2..9.
- added_object: a new sentence asserts a colour-shape pair the caption never names.
- sign_word: the quoted sign word becomes another vocabulary word.
- repeated_sentence: one sentence is said twice in a row.
- truncation: the caption stops mid-sentence.

The first four never edit inside a negation ("There are no green triangles." stays
true). Mentions, counts and negation are found by the project's caption reader
(components/world/caption_facts.py): its tokenizer and vocabulary tables, its negation
tracker for scope, and a span finder below that follows its phrase rules, so every edit
lands on a mention the reader reads and changes its facts exactly as the kind says.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from components.world.caption_facts import (
    _CLAUSE_BREAKS,
    _COLOR_WORDS,
    _DETERMINERS,
    _FILLER,
    _LIST_JOINERS,
    _NEGATIONS,
    _NUMBERS,
    _PLUS_NOUNS,
    _QUOTED,
    _RELATIVE,
    _SHAPE_ADJECTIVES,
    _SHAPE_NOUNS,
    _SIZE_WORDS,
    _TOKEN,
    _Reader,
    extract_facts,
)
from components.world.english import with_article
from components.world.palette import COL_NAMES, COLORS, ROW_NAMES, SHAPES, VOCABULARY, cell_name

PERTURBATIONS: tuple[str, ...] = (
    "colour_swap",
    "shape_swap",
    "count_change",
    "added_object",
    "sign_word",
    "repeated_sentence",
    "truncation",
)
HARD_NEGATIVE_KINDS: tuple[str, ...] = ("colour_swap", "shape_swap", "count_change", "added_object", "sign_word")

_NUMBER_WORDS = {n: w for w, n in _NUMBERS.items()}
_NEW_COUNTS = tuple(range(2, 10))
# The curated writer's size synonyms (captions.py), for the added object's phrasing.
_SIZE_PHRASES = ("small", "little", "tiny", "large", "big")
# Object sentences in the curated writer's phrasing (captions.py's _object_sentence).
_OBJECT_TEMPLATES = (
    "{Thing} sits {where}.",
    "{Thing} appears {where}.",
    "{Thing} is {where}.",
    "There is {thing} {where}.",
    "You can see {thing} {where}.",
    "{Where}, there is {thing}.",
    "{Thing} can be found {where}.",
)

# A sentence runs to its end punctuation (and any closing quote) before a space or the
# text's end; an unfinished last sentence runs to the end.
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+[\"'’”)]*(?=\s|$)|$)", re.S)
_ENDED = re.compile(r"[.!?][\"'’”)]*$")
# "a"/"an" right before an edited word, possibly through an opening quote ("an 'EXIT' sign").
_ARTICLE = re.compile(r"(?<![A-Za-z])(an?|An?|AN?)(\s+['‘\"“]?)$")


@dataclass(frozen=True)
class Perturbation:
    """One edit: `text` is the perturbed caption; `before` -> `after` the span it changed
    (for added_object and repeated_sentence `before` is "" and `after` the added sentence;
    for truncation `before` is the removed tail and `after` is "")."""

    kind: str
    text: str
    before: str
    after: str


def perturb(caption: str, kind: str, rng: np.random.Generator) -> Perturbation | None:
    """`caption` with one perturbation of `kind`, or None when the kind does not apply."""
    if kind not in _KINDS:
        raise ValueError(f"unknown perturbation kind {kind!r}; expected one of {PERTURBATIONS}")
    return _KINDS[kind](caption, rng)


def hard_negatives(
    caption: str, rng: np.random.Generator, kinds: Sequence[str] = HARD_NEGATIVE_KINDS
) -> list[Perturbation]:
    """One perturbation of each kind in `kinds` that applies to `caption`, in `kinds`' order."""
    unknown = [k for k in kinds if k not in _KINDS]
    if unknown:
        raise ValueError(f"unknown perturbation kinds {unknown!r}; expected some of {PERTURBATIONS}")
    out = []
    for kind in kinds:
        p = perturb(caption, kind, rng)
        if p is not None:
            out.append(p)
    return out


# ---------------------------------------------------------------- reading spans


@dataclass(frozen=True)
class _Token:
    text: str  # lower-cased, as the reader sees it
    start: int  # character span in the caption
    end: int


@dataclass(frozen=True)
class _Mention:
    """A shape noun the reader turns into mention(s), with the tokens it reads into them."""

    shape: str
    plural: bool
    noun: tuple[int, int]  # character span; "plus sign" is two words
    colors: tuple[_Token, ...]  # one mention per colour; () for a shape-only mention
    count: _Token | None  # the number the reader takes as the count
    negated: bool
    sentence: int

    @property
    def start(self) -> int:
        firsts = [t.start for t in self.colors] + ([self.count.start] if self.count else [])
        return min([self.noun[0], *firsts])


@dataclass
class _Reading:
    tokens: list[_Token]
    negated_at: set[int]  # token indices the reader holds under negation
    sentences: list[tuple[int, int]]  # character spans
    mentions: list[_Mention] = field(default_factory=list)

    def sentence_of(self, pos: int) -> int:
        return next(k for k, (s, e) in enumerate(self.sentences) if pos < e or k == len(self.sentences) - 1)

    def negative_sentence(self, k: int) -> bool:
        s, e = self.sentences[k]
        return any(s <= t.start < e and i in self.negated_at for i, t in enumerate(self.tokens))


def _read(caption: str) -> _Reading:
    # The reader's own tokenizer on the same text: quoted spans blanked (same length, so
    # offsets stay those of the caption) and lower-cased per character (a character whose
    # lower case is longer, e.g. "İ", is kept: offsets matter more than that rare token).
    masked = _QUOTED.sub(lambda m: " " * len(m.group(0)), caption)
    lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in masked)
    tokens = [_Token(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(lowered)]
    reader = _Reader([t.text for t in tokens])
    reader.read()  # only for its negation scope; mentions come from _mentions below
    sentences = [m.span() for m in _SENTENCE.finditer(caption)]
    reading = _Reading(tokens, reader.negated_at, sentences)
    reading.mentions = _mentions(reading)
    return reading


def _mentions(reading: _Reading) -> list[_Mention]:
    """The shape-noun mentions, following _Reader.read's rules token for token: which
    tokens end a phrase (and drop pending colours and count), which keep it open. A
    mention is negated when its noun lies in the reader's negation scope."""
    tokens = reading.tokens
    out: list[_Mention] = []
    colors: list[_Token] = []
    count: _Token | None = None
    relative = False

    def reset() -> None:
        nonlocal count, relative
        colors.clear()
        count, relative = None, False

    def emit(i: int, shape: str, plural: bool, end: int) -> None:
        out.append(
            _Mention(
                shape=shape,
                plural=plural,
                noun=(tokens[i].start, end),
                colors=tuple(colors),
                count=None if relative else count,
                negated=i in reading.negated_at,
                sentence=reading.sentence_of(tokens[i].start),
            )
        )
        reset()

    i = 0
    while i < len(tokens):
        t = tokens[i].text
        nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if t in _NEGATIONS or t.endswith("n't") or t.endswith("n’t") or t in _CLAUSE_BREAKS:
            reset()
        elif t == ",":
            if not (colors and nxt in _COLOR_WORDS):  # "red, blue and green circles" stays open
                reset()
        elif t in _NUMBERS or t.isdigit():
            reset()
            count = tokens[i]
        elif t in _DETERMINERS:
            reset()
        elif t in _SIZE_WORDS or t in _FILLER or t in _SHAPE_ADJECTIVES:
            pass
        elif t in _COLOR_WORDS:
            colors.append(tokens[i])
        elif t in _LIST_JOINERS:
            if not (colors and nxt in _COLOR_WORDS):
                reset()
        elif t in _RELATIVE:
            relative = True  # "3 more red circles": the reader drops the count
        elif t in _SHAPE_NOUNS:
            shape, plural = _SHAPE_NOUNS[t]
            emit(i, shape, plural, tokens[i].end)
        elif t == "plus" and nxt in _PLUS_NOUNS:
            emit(i, "cross", _PLUS_NOUNS[nxt], tokens[i + 1].end)
            i += 1
        else:  # generic nouns ("shapes") and every other word end the phrase
            reset()
        i += 1
    return out


# ---------------------------------------------------------------- editing


def _match_case(model: str, word: str) -> str:
    """`word` in `model`'s case style: "OPEN", "Open" or "open"."""
    if len(model) > 1 and model.isupper():
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:].lower()
    return word.lower()


def _article_edit(caption: str, start: int, replacement: str) -> tuple[int, int, str] | None:
    """Fix "a"/"an" right before an edit at `start` for its new first letter."""
    m = _ARTICLE.search(caption, 0, start)
    if m is None:
        return None
    wanted = "an" if replacement[:1].lower() in "aeiou" else "a"
    old = m.group(1)
    if old.lower() == wanted:
        return None
    return m.start(1), m.end(1), _match_case(old, wanted)


def _apply(caption: str, kind: str, edits: list[tuple[int, int, str]], span: tuple[int, int]) -> Perturbation:
    """Apply non-overlapping `edits`; `span` (widened to cover them) is reported as before/after."""
    edits = sorted(edits)
    for a, b in zip(edits, edits[1:], strict=False):
        if a[1] > b[0]:
            raise ValueError(f"overlapping edits {a!r} and {b!r} in {caption!r}")
    lo = min([span[0], *(e[0] for e in edits)])
    hi = max([span[1], *(e[1] for e in edits)])
    text, shift = caption, 0
    for s, e, new in edits:
        text = text[: s + shift] + new + text[e + shift :]
        shift += len(new) - (e - s)
    return Perturbation(kind=kind, text=text, before=caption[lo:hi], after=text[lo : hi + shift])


def _word_edit(caption: str, token: _Token, word: str) -> list[tuple[int, int, str]]:
    new = _match_case(caption[token.start : token.end], word)
    article = _article_edit(caption, token.start, new)
    return [(token.start, token.end, new)] + ([article] if article else [])


def _pick(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def _cross_noun(reading: _Reading) -> str:
    """The caption's own word for a cross: "plus sign" if it says so anywhere, else "cross"."""
    texts = [t.text for t in reading.tokens]
    return (
        "plus sign"
        if any(a == "plus" and b in _PLUS_NOUNS for a, b in zip(texts, texts[1:], strict=False))
        else "cross"
    )


def _noun(shape: str, plural: bool, cross: str) -> str:
    name = cross if shape == "cross" else shape
    if not plural:
        return name
    return "crosses" if name == "cross" else name + "s"


# ---------------------------------------------------------------- the kinds


def _colour_swap(caption: str, rng: np.random.Generator) -> Perturbation | None:
    reading = _read(caption)
    pairs = extract_facts(caption).pairs
    single = [m for m in reading.mentions if not m.negated and len(m.colors) == 1]
    candidates = []
    for i, a in enumerate(single):
        for b in single[i + 1 :]:
            ca, cb = _COLOR_WORDS[a.colors[0].text], _COLOR_WORDS[b.colors[0].text]
            if ca == cb or a.shape == b.shape:
                continue
            # At least one swapped pair must be new, else the caption asserts the same pairs.
            if (cb, a.shape) in pairs and (ca, b.shape) in pairs:
                continue
            candidates.append((a, b))
    if not candidates:
        return None
    # Prefer a swap inside one sentence: the exact bag-of-words confusion NegCLIP targets.
    same = [(a, b) for a, b in candidates if a.sentence == b.sentence]
    a, b = _pick(rng, same or candidates)
    ta, tb = a.colors[0], b.colors[0]
    edits = _word_edit(caption, ta, tb.text) + _word_edit(caption, tb, ta.text)
    return _apply(caption, "colour_swap", edits, (a.start, b.noun[1]))


def _shape_swap(caption: str, rng: np.random.Generator) -> Perturbation | None:
    reading = _read(caption)
    pairs = extract_facts(caption).pairs
    cross = _cross_noun(reading)
    candidates = []
    for m in reading.mentions:
        if m.negated or len(m.colors) != 1:  # "red and blue circles" would change two pairs
            continue
        color = _COLOR_WORDS[m.colors[0].text]
        for shape in SHAPES:
            if shape != m.shape and (color, shape) not in pairs:
                candidates.append((m, shape))
    if not candidates:
        return None
    m, shape = _pick(rng, candidates)
    new = _noun(shape, m.plural, cross)
    edits = [(m.noun[0], m.noun[1], new)]
    article = _article_edit(caption, m.noun[0], new)
    edits += [article] if article else []
    return _apply(caption, "shape_swap", edits, (m.start, m.noun[1]))


def _count_change(caption: str, rng: np.random.Generator) -> Perturbation | None:
    reading = _read(caption)
    candidates = [
        m
        for m in reading.mentions
        # A plural count, one mention per noun: a new count 2..9 keeps the noun plural.
        if not m.negated and m.count is not None and m.plural and len(m.colors) <= 1 and _count_of(m.count) >= 2
    ]
    if not candidates:
        return None
    m = _pick(rng, candidates)
    assert m.count is not None
    old = _count_of(m.count)
    n = int(_pick(rng, [c for c in _NEW_COUNTS if c != old]))
    word = str(n) if m.count.text.isdigit() else _NUMBER_WORDS[n]
    return _apply(caption, "count_change", _word_edit(caption, m.count, word), (m.start, m.noun[1]))


def _count_of(token: _Token) -> int:
    return int(token.text) if token.text.isdigit() else _NUMBERS[token.text]


def _added_object(caption: str, rng: np.random.Generator) -> Perturbation | None:
    reading = _read(caption)
    facts = extract_facts(caption)
    named = facts.pairs | facts.negated_pairs
    new_pairs = [(c, s) for c in COLORS for s in SHAPES if (c, s) not in named]
    # After a complete sentence that asserts rather than denies, so the new one reads as
    # more of the description (and never lands inside a negation's list).
    places = [k for k, (s, e) in enumerate(reading.sentences) if _ENDED.search(caption[s:e])]
    places = [k for k in places if not reading.negative_sentence(k)]
    if not new_pairs or not places:
        return None
    color, shape = _pick(rng, new_pairs)
    words = f"{_pick(rng, _SIZE_PHRASES)} {color} {_noun(shape, False, _cross_noun(reading))}"
    thing = with_article(words)
    where = "at the " + cell_name(int(rng.integers(len(ROW_NAMES))), int(rng.integers(len(COL_NAMES))))
    sentence = _pick(rng, _OBJECT_TEMPLATES).format(
        thing=thing, Thing=thing[0].upper() + thing[1:], where=where, Where=where[0].upper() + where[1:]
    )
    end = reading.sentences[int(_pick(rng, places))][1]
    text = caption[:end] + " " + sentence + caption[end:]
    return Perturbation(kind="added_object", text=text, before="", after=sentence)


def _sign_word(caption: str, rng: np.random.Generator) -> Perturbation | None:
    # The reader takes the first quoted text as the sign's word.
    quoted = _QUOTED.search(caption)
    if quoted is None:
        return None
    old = quoted.group(2)
    stripped = old.strip()
    if stripped.upper() not in VOCABULARY:
        return None
    word = _match_case(stripped, _pick(rng, [w for w in VOCABULARY if w != stripped.upper()]))
    start = quoted.start(2) + old.index(stripped)
    edits = [(start, start + len(stripped), word)]
    article = _article_edit(caption, start, word)
    edits += [article] if article else []
    return _apply(caption, "sign_word", edits, quoted.span())


def _repeated_sentence(caption: str, rng: np.random.Generator) -> Perturbation | None:
    reading = _read(caption)
    ended = [(s, e) for s, e in reading.sentences if _ENDED.search(caption[s:e])]
    if not ended:
        return None
    s, e = _pick(rng, ended)
    sentence = caption[s:e]
    return Perturbation(
        kind="repeated_sentence", text=caption[:e] + " " + sentence + caption[e:], before="", after=sentence
    )


def _truncation(caption: str, rng: np.random.Generator) -> Perturbation | None:
    reading = _read(caption)
    # Cut inside a later sentence, after one of its words but before its last, so at
    # least one full sentence survives and the cut sentence is visibly unfinished.
    cuts_per_sentence = []
    for s, e in reading.sentences[1:]:
        word_ends = [s + m.end() for m in re.finditer(r"\S+", caption[s:e])]
        if len(word_ends) >= 2:
            cuts_per_sentence.append(word_ends[:-1])
    if not cuts_per_sentence:
        return None
    cut = int(_pick(rng, _pick(rng, cuts_per_sentence)))
    text = caption[:cut].rstrip(",;: \t\n")
    return Perturbation(kind="truncation", text=text, before=caption[len(text) :].lstrip(), after="")


_KINDS = {
    "colour_swap": _colour_swap,
    "shape_swap": _shape_swap,
    "count_change": _count_change,
    "added_object": _added_object,
    "sign_word": _sign_word,
    "repeated_sentence": _repeated_sentence,
    "truncation": _truncation,
}
