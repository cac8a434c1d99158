"""What a text says about where things are: the objects it names (read by the world's caption
reader, phrase by phrase), the sign, the places it gives them and the relations between them.

The tokens are cut at place phrases, relation phrases and sign nouns, and at changes of
negation; each piece goes through `extract_facts`, whose mentions become anchors in reading
order. A place binds to the nearest unbound anchor before it in its sentence ("a red circle
sits in the top left"), else the first after it ("in the top left is a red circle"), else
to what a pronoun points back to ("It sits in the top left": the last singular object;
"They sit ...": the last plural one). A relation binds the nearest anchor before it to the
nearest after it. Places and relations under a negation, or bound to a negated anchor, state
nothing. A sentence saying two things "share a row, with X on the left" gives no cell.

A predicative colour joins its noun within a piece that has a copula: "the circle is red"
names a red circle, where the world's reader gives a circle and a colour apart.
"""

from dataclasses import dataclass, field

from components.world.caption_facts import ObjectMention, extract_facts

from .phrases import PlacePhrase, RelationPhrase, find_phrases
from .scopes import Scopes, read_scopes
from .vocabulary import COLOR_WORDS, NUMBER_WORDS, SHAPE_NOUNS, SIGN_NOUNS

_COPULAS = frozenset({"is", "are", "was", "were", "looks", "look", "appears", "appear", "seems", "seem"})
_SHARING = frozenset({"share", "shares", "sharing", "shared"})
_TOTAL_NOUNS = frozenset({"shape", "shapes", "object", "objects", "figure", "figures", "thing", "things"})
_TOTAL_NOUNS |= {"item", "items", "form", "forms"}
_NOT_BETWEEN_COUNT_AND_NOUN = frozenset({"of", "and", "or", "the", "a", "an", "in", "on", "at", "with", ",", "."})
_PLURAL_PRONOUNS = frozenset({"they", "them", "their", "theirs"})
_SINGULAR_PRONOUNS = frozenset({"it", "its", "it's", "it’s"})


@dataclass(frozen=True)
class Thing:
    """What a place or a relation is about: an object mention, or the sign (mention None)."""

    mention: ObjectMention | None

    @property
    def is_sign(self) -> bool:
        return self.mention is None


SIGN = Thing(None)


@dataclass(frozen=True)
class Place:
    """`thing` is in cell (row, col); row None: anywhere in column col; col None: in row `row`."""

    thing: Thing
    row: int | None
    col: int | None


@dataclass(frozen=True)
class Relation:
    """`subject` is `relation` (components/world/relations.py) `other`."""

    subject: Thing
    relation: str
    other: Thing


@dataclass(frozen=True)
class Layout:
    objects: tuple[ObjectMention, ...]  # asserted, in reading order
    negated: tuple[ObjectMention, ...]  # denied, without "no other ..." denials
    partial: tuple[ObjectMention, ...]  # asserted after "including": a singular there is not "exactly one"
    sign_named: bool  # a sign noun outside a negation ("a sign", not "a plus sign")
    places: tuple[Place, ...]
    relations: tuple[Relation, ...]
    totals: tuple[int, ...]  # "four shapes", "one shape"


@dataclass
class _Anchor:
    thing: Thing
    pos: int
    negated: bool
    exclusive: bool
    partial: bool
    bound: bool = False


@dataclass
class _Sentence:
    items: list[_Anchor | PlacePhrase | RelationPhrase] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)


def read_layout(tokens: list[str]) -> Layout:
    scopes = read_scopes(tokens)
    phrases = find_phrases(tokens)
    anchors = _anchors(tokens, scopes, phrases)
    sentences = _sentences(tokens, scopes, anchors, phrases)
    places, relations = _bind(sentences, scopes)
    objects = [a for a in anchors if not a.thing.is_sign and not a.exclusive]
    return Layout(
        objects=tuple(a.thing.mention for a in objects if not a.negated and a.thing.mention),
        negated=tuple(a.thing.mention for a in objects if a.negated and a.thing.mention),
        partial=tuple(a.thing.mention for a in objects if a.partial and not a.negated and a.thing.mention),
        sign_named=any(a.thing.is_sign and not a.negated for a in anchors),
        places=tuple(dict.fromkeys(places)),
        relations=tuple(dict.fromkeys(relations)),
        totals=tuple(dict.fromkeys(_totals(tokens, scopes))),
    )


def _anchors(tokens: list[str], scopes: Scopes, phrases: list[PlacePhrase | RelationPhrase]) -> list[_Anchor]:
    """Anchors in reading order: the mentions of each piece between phrases and sign nouns."""
    cut = [False] * len(tokens)
    for p in phrases:
        for i in range(p.start, p.end):
            cut[i] = True
    anchors: list[_Anchor] = []
    piece: list[int] = []

    def key(i: int) -> tuple[int, bool, bool, bool]:
        return scopes.sentence[i], scopes.negated[i], scopes.exclusive[i], scopes.partial[i]

    def close() -> None:
        if piece:
            anchors.extend(_piece_anchors(tokens, piece, scopes))
            piece.clear()

    for i, t in enumerate(tokens):
        if cut[i]:
            close()
        elif t in SIGN_NOUNS and (i == 0 or tokens[i - 1] != "plus"):
            close()
            anchors.append(_Anchor(SIGN, i, scopes.negated[i], scopes.exclusive[i], scopes.partial[i]))
        else:
            if piece and key(piece[-1]) != key(i):
                close()
            piece.append(i)
    close()
    return anchors


def _piece_anchors(tokens: list[str], piece: list[int], scopes: Scopes) -> list[_Anchor]:
    words = [tokens[i] for i in piece]
    facts = extract_facts(" ".join(words))
    mentions = list(facts.mentions) + list(facts.negated)  # the piece's polarity is scopes', not the reader's
    if _COPULAS & set(words):
        mentions = _join_predicates(mentions)
    first = piece[0]
    return [
        _Anchor(Thing(m), first, scopes.negated[first], scopes.exclusive[first], scopes.partial[first])
        for m in mentions
    ]


def _join_predicates(mentions: list[ObjectMention]) -> list[ObjectMention]:
    """ "the circle is red": a colourless shape followed by a shapeless colour is one object."""
    joined: list[ObjectMention] = []
    for m in mentions:
        prev = joined[-1] if joined else None
        if prev and prev.color is None and prev.shape and m.shape is None and m.color and m.count is None:
            joined[-1] = ObjectMention(m.color, prev.shape, prev.size or m.size, prev.count, prev.plural)
        else:
            joined.append(m)
    return joined


def _sentences(
    tokens: list[str], scopes: Scopes, anchors: list[_Anchor], phrases: list[PlacePhrase | RelationPhrase]
) -> list[_Sentence]:
    n = (scopes.sentence[-1] + 1) if tokens else 0
    sentences = [_Sentence() for _ in range(n)]
    for i, t in enumerate(tokens):
        sentences[scopes.sentence[i]].tokens.add(t)
    located: list[tuple[int, int, _Anchor | PlacePhrase | RelationPhrase]] = [(a.pos, 1, a) for a in anchors]
    located += [(p.start, 0, p) for p in phrases]
    for pos, _, item in sorted(located, key=lambda x: (x[0], x[1])):
        sentences[scopes.sentence[pos]].items.append(item)
    return sentences


def _bind(sentences: list[_Sentence], scopes: Scopes) -> tuple[list[Place], list[Relation]]:
    places: list[Place] = []
    relations: list[Relation] = []
    earlier: list[_Anchor] = []  # positive object anchors of the sentences read so far
    for s in sentences:
        sharing = bool(_SHARING & s.tokens) and bool({"row", "column"} & s.tokens)
        for k, item in enumerate(s.items):
            if isinstance(item, PlacePhrase) and not sharing and not scopes.negated[item.start]:
                anchor = _place_anchor(s, k) or _pronoun_anchor(s, earlier)
                if anchor is not None:
                    anchor.bound = True
                    place = _place(anchor, item)
                    if place is not None:
                        places.append(place)
            elif isinstance(item, RelationPhrase) and not scopes.negated[item.start]:
                subject = _nearest(s.items[:k][::-1]) or _pronoun_anchor(s, earlier)
                other = _nearest(s.items[k + 1 :])
                if subject and other and not (subject.negated or other.negated or subject.exclusive):
                    relations.append(Relation(subject.thing, item.relation, other.thing))
        earlier += [a for a in s.items if isinstance(a, _Anchor) and not a.negated and not a.thing.is_sign]
    return places, relations


def _place_anchor(s: _Sentence, k: int) -> _Anchor | None:
    """The unbound anchor before place k (not across another place), else the first unbound
    one after it (up to the next place), else the nearest bound one before it."""
    for item in reversed(s.items[:k]):
        if isinstance(item, PlacePhrase):
            break
        if isinstance(item, _Anchor) and not item.bound:
            return item
    for item in s.items[k + 1 :]:
        if isinstance(item, PlacePhrase):
            break
        if isinstance(item, _Anchor) and not item.bound:
            return item
    return _nearest(s.items[:k][::-1])


def _nearest(items: list[_Anchor | PlacePhrase | RelationPhrase]) -> _Anchor | None:
    return next((item for item in items if isinstance(item, _Anchor)), None)


def _pronoun_anchor(s: _Sentence, earlier: list[_Anchor]) -> _Anchor | None:
    """The object a sentence without one of its own points back to."""
    if not earlier:
        return None
    if _PLURAL_PRONOUNS & s.tokens:
        wanted = [a for a in earlier if a.thing.mention and _is_plural(a.thing.mention)]
    elif _SINGULAR_PRONOUNS & s.tokens:
        wanted = [a for a in earlier if a.thing.mention and not _is_plural(a.thing.mention)]
    else:
        wanted = []
    return (wanted or earlier)[-1]


def _is_plural(m: ObjectMention) -> bool:
    return m.plural or (m.count or 1) > 1


def _place(anchor: _Anchor, phrase: PlacePhrase) -> Place | None:
    if anchor.negated or anchor.exclusive:
        return None
    if anchor.thing.is_sign:  # the sign fills a row: a bare "at the top" is the top row
        if phrase.row is None:
            return None
        return Place(anchor.thing, phrase.row, None if phrase.bare else phrase.col)
    return Place(anchor.thing, phrase.row, phrase.col)


def _totals(tokens: list[str], scopes: Scopes) -> list[int]:
    """Counts of shapes of any kind: "four shapes", "4 colorful shapes", "one shape"."""
    totals = []
    for i, t in enumerate(tokens):
        n = int(t) if t.isdigit() else NUMBER_WORDS.get(t)
        if n is None or scopes.negated[i] or (i > 0 and tokens[i - 1] == "of"):
            continue
        for j in range(i + 1, min(i + 4, len(tokens))):
            w = tokens[j]
            if w in _TOTAL_NOUNS:
                totals.append(n)
                break
            if w in COLOR_WORDS or w in SHAPE_NOUNS or w in _NOT_BETWEEN_COUNT_AND_NOUN or w in NUMBER_WORDS:
                break
    return totals
