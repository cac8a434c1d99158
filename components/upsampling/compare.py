"""Fact by fact, what a rewrite must keep of its prompt; each failure names the fact.

- Objects: every object the prompt names is named by the rewrite with at least the same
  colour, shape and size ("a triangle" is kept by "a small red triangle"); a rewrite that
  denies one ("There are no circles.") contradicts it.
- Counts: a stated count ("two blue squares") is stated again, or the rewrite places that
  many of them in distinct cells; another count fails, and so does placing more of them than
  the count ("Two blue squares. One is at the top, one in the center, one at the bottom."). A
  kind the prompt names only in the singular ("a red circle") may not become several, by count
  or by places, except in an "including ..." list.
- Totals ("four shapes") are stated again, or that many objects are placed.
- Negations ("no blue squares", "no sign") are stated again, by an equal or wider negation,
  and nothing the rewrite asserts falls under them.
- Places and relations: the same thing in the same cell (row, column); a relation is stated
  again either way round ("A left of B", "B right of A") or follows from the places.
- Background: the prompt's is stated and no other one is; a rewrite that states two fails
  even where the prompt states none.
- Sign: the same word, no second sign word, no denial; a sign named without a word is named.
- Quoted text and words outside the world are kept verbatim, with the colours, sizes and
  counts the prompt gives them ("a white cat" stays white).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from components.world.caption_facts import ObjectMention
from components.world.english import with_article
from components.world.palette import COL_NAMES, ROW_NAMES, VOCABULARY, cell_name
from components.world.relations import ABOVE, BELOW, INVERSE, LEFT, RIGHT

from .layout import Place, Relation, Thing

if TYPE_CHECKING:
    from .intent import Intent

Cell = tuple[int | None, int | None]


def failures(prompt: Intent, rewrite: Intent) -> list[str]:
    return [
        *_objects(prompt, rewrite),
        *_counts(prompt, rewrite),
        *_totals(prompt, rewrite),
        *_negations(prompt, rewrite),
        *_places(prompt, rewrite),
        *_relations(prompt, rewrite),
        *_background(prompt, rewrite),
        *_sign(prompt, rewrite),
        *_outside(prompt, rewrite),
    ]


# ---------------------------------------------------------------- naming


def _noun(shape: str | None, plural: bool) -> str:
    if shape is None:
        return "shapes" if plural else "shape"
    return (shape + ("es" if shape == "cross" else "s")) if plural else shape


def _name(m: ObjectMention, plural: bool | None = None) -> str:
    """ "large red circle", "circles", "red shape"."""
    many = m.plural if plural is None else plural
    return " ".join(w for w in (m.size, m.color, _noun(m.shape, many)) if w)


def _thing(t: Thing) -> str:
    return "sign" if t.mention is None else _name(t.mention)


def _where(row: int | None, col: int | None) -> str:
    if row is not None and col is not None:
        name = cell_name(row, col)
        preposition = {"top": "at", "bottom": "at", "left": "on", "right": "on"}.get(name, "in")
        return f"{preposition} the {name}"
    if row is not None:
        return f"in the {ROW_NAMES[row]} row"
    return f"in the {COL_NAMES[col] if col is not None else '?'} column"


def _unique(mentions: Iterable[ObjectMention]) -> list[ObjectMention]:
    return list(dict.fromkeys(mentions))


# ---------------------------------------------------------------- matching


def denies(prompt: Intent, rewrite: Intent) -> bool:
    """Whether `rewrite` negates an object or the sign that `prompt` states."""
    return any(_covers(q, p) for q in rewrite.negated for p in prompt.objects) or (
        prompt.sign_named and rewrite.sign_negated
    )


def _covers(general: ObjectMention, specific: ObjectMention) -> bool:
    """Every attribute `general` names, `specific` names the same."""
    return all(
        getattr(general, a) is None or getattr(general, a) == getattr(specific, a) for a in ("color", "shape", "size")
    )


def _agrees(p: ObjectMention, r: ObjectMention) -> bool:
    """`r` can be the object `p` names: the colour and shape `p` names, a size not contrary."""
    return (
        (p.color is None or p.color == r.color)
        and (p.shape is None or p.shape == r.shape)
        and (p.size is None or r.size is None or p.size == r.size)
    )


def _same_thing(p: Thing, r: Thing) -> bool:
    if p.mention is None or r.mention is None:
        return p.mention is None and r.mention is None
    return _agrees(p.mention, r.mention)


def _cells(places: Iterable[Place], thing: Thing) -> list[Cell]:
    return [(pl.row, pl.col) for pl in places if _same_thing(thing, pl.thing)]


def _placed_count(rewrite: Intent, m: ObjectMention) -> int:
    """Distinct cells the rewrite gives objects that can be `m`."""
    return len({c for c in _cells(rewrite.places, Thing(m)) if None not in c})


def place_limits(prompt: Intent) -> list[tuple[ObjectMention, int]]:
    """The most cells a rewrite may place each of the prompt's things in: a counted thing its
    count, a colour and shape named k times in the singular k (the rules of _counts, _singulars)."""
    limits = _counted(prompt)
    for named in _singular_kinds(prompt):
        limits += [(m, len(named)) for m in named]
    return limits


def _counted(prompt: Intent) -> list[tuple[ObjectMention, int]]:
    """Each distinct counted mention of the prompt, with its count."""
    return [(p, p.count) for p in _unique(prompt.objects) if p.count is not None]


def placed_counts(limits: list[tuple[ObjectMention, int]], rewrite: Intent) -> list[int]:
    """For each limit, the cells the rewrite places that thing in."""
    return [_placed_count(rewrite, m) for m, _ in limits]


# ---------------------------------------------------------------- objects and counts


def _objects(prompt: Intent, rewrite: Intent) -> list[str]:
    found = []
    pairs = {(m.color, m.shape) for m in prompt.objects}
    for p in _unique(ObjectMention(m.color, m.shape, m.size, None, m.plural) for m in prompt.objects):
        if not any(_covers(p, r) for r in rewrite.objects):
            found.append(_missing_object(p, rewrite.objects, pairs))
        denial = next((q for q in rewrite.negated if _covers(q, p)), None)
        if denial is not None:
            found.append(f"contradicts: the prompt's {_name(p)} is negated ('no {_name(denial, plural=True)}')")
    return found


def _missing_object(p: ObjectMention, said: tuple[ObjectMention, ...], pairs: set) -> str:
    if p.shape is None:
        return f"drops the colour {p.color}"
    if p.color is None:
        return f"drops the {_name(p)}"
    same_pair = [r for r in said if (r.color, r.shape) == (p.color, p.shape)]
    if same_pair and p.size is not None:
        sizes = sorted({r.size for r in same_pair if r.size})
        if not sizes:
            return f"drops the size {p.size} of the {_name(p)}"
        return f"states the {_name(p)} as {sizes[0]} where the prompt says {p.size}"
    other_color = next((r for r in said if r.shape == p.shape and r.color and (r.color, p.shape) not in pairs), None)
    if other_color is not None:
        return f"swaps {p.color} for {other_color.color} (the {_name(p)})"
    other_shape = next((r for r in said if r.color == p.color and r.shape and (p.color, r.shape) not in pairs), None)
    if other_shape is not None:
        return f"swaps {p.shape} for {other_shape.shape} (the {_name(p)})"
    if any(r.shape == p.shape for r in said):
        return f"drops the colour {p.color} of the {_noun(p.shape, p.plural)}"
    return f"drops the {_name(p)}"


def _counts(prompt: Intent, rewrite: Intent) -> list[str]:
    found = []
    for p, n in _counted(prompt):
        placed = _placed_count(rewrite, p)
        if placed > n:
            found.append(f"places {placed} {_name(p, plural=True)} where the prompt says {n}")
            continue
        if any(r.count == n and _agrees(p, r) for r in rewrite.objects) or placed == n:
            continue
        other = next((r for r in rewrite.objects if r.count is not None and _agrees(p, r)), None)
        if other is not None:
            found.append(f"states {other.count} {_name(p, plural=True)} where the prompt says {n}")
        else:
            found.append(f"drops the count {n} of the {_name(p, plural=True)}")
    found += _singulars(prompt, rewrite)
    return found


def _singulars(prompt: Intent, rewrite: Intent) -> list[str]:
    """A colour and shape the prompt names k times, each in the singular without a count,
    may not be counted above k, nor placed in more than k cells."""
    found = []
    for named in _singular_kinds(prompt):
        color, shape = named[0].color, named[0].shape
        sizes = {m.size for m in named}
        over = next(
            (
                r
                for r in rewrite.objects
                if (r.color, r.shape) == (color, shape)
                and r.count is not None
                and r.count > len(named)
                and (r.size is None or r.size in sizes or sizes == {None})
            ),
            None,
        )
        said = "one" if len(named) == 1 else str(len(named))
        placed = max((_placed_count(rewrite, m) for m in named), default=0)
        if over is not None:
            found.append(f"states {over.count} {color} {_noun(shape, True)} where the prompt says {said}")
        elif placed > len(named):
            found.append(f"places {placed} {color} {_noun(shape, True)} where the prompt says {said}")
    return found


def _singular_kinds(prompt: Intent) -> list[list[ObjectMention]]:
    """The prompt's mentions grouped by colour and shape, for each kind named only in the
    singular, without a count and outside an "including ..." list."""
    kinds = []
    for color, shape in dict.fromkeys((m.color, m.shape) for m in prompt.objects if m.color and m.shape):
        named = [m for m in prompt.objects if (m.color, m.shape) == (color, shape)]
        if not any(m.count is not None or m.plural or m in prompt.partial for m in named):
            kinds.append(named)
    return kinds


def _totals(prompt: Intent, rewrite: Intent) -> list[str]:
    found = []
    for n in prompt.totals:
        if n in rewrite.totals:
            continue
        if rewrite.totals:
            found.append(f"states {rewrite.totals[0]} shapes where the prompt says {n}")
        elif len({(pl.row, pl.col) for pl in rewrite.places if not pl.thing.is_sign}) != n:
            found.append(f"drops the total of {n} {_noun(None, n != 1)}")
    return found


def _negations(prompt: Intent, rewrite: Intent) -> list[str]:
    found = []
    for q in _unique(prompt.negated):
        said = _name(q, plural=True)
        broken = next((m for m in rewrite.objects if _covers(q, m)), None)
        if broken is not None:
            found.append(f"contradicts: states {with_article(_name(broken))} where the prompt says no {said}")
        elif not any(_covers(r, q) for r in rewrite.negated):
            found.append(f"drops the negation: no {said}")
    if prompt.sign_negated:
        if rewrite.sign_named:
            found.append("contradicts: states a sign where the prompt says there is none")
        elif not rewrite.sign_negated:
            found.append("drops the negation: no sign")
    return found


# ---------------------------------------------------------------- places and relations


def _places(prompt: Intent, rewrite: Intent) -> list[str]:
    found = []
    for pl in prompt.places:
        cells = _cells(rewrite.places, pl.thing)
        if any(_within((pl.row, pl.col), c) for c in cells):
            continue
        if cells:
            found.append(
                f"places the {_thing(pl.thing)} {_where(*cells[0])} where the prompt says {_where(pl.row, pl.col)}"
            )
        else:
            found.append(f"drops the place of the {_thing(pl.thing)}: {_where(pl.row, pl.col)}")
    return found


def _within(stated: Cell, given: Cell) -> bool:
    """`given` says at least what `stated` says: the same row and column where stated names them."""
    return all(s is None or s == g for s, g in zip(stated, given, strict=True))


def _relations(prompt: Intent, rewrite: Intent) -> list[str]:
    found = []
    for rel in prompt.relations:
        verdict = _relation_verdict(rel, rewrite)
        if verdict is True:
            continue
        subject, other = _thing(rel.subject), _thing(rel.other)
        if verdict is False:
            opposite = INVERSE[rel.relation]
            found.append(f"contradicts: puts the {subject} {opposite} the {other} where the prompt says {rel.relation}")
        else:
            found.append(f"drops the relation: the {subject} {rel.relation} the {other}")
    return found


def _relation_verdict(rel: Relation, rewrite: Intent) -> bool | None:
    """True: stated or implied by places; False: the opposite is; None: neither."""
    for r in rewrite.relations:
        forward = _same_thing(rel.subject, r.subject) and _same_thing(rel.other, r.other)
        backward = _same_thing(rel.subject, r.other) and _same_thing(rel.other, r.subject)
        if (forward and r.relation == rel.relation) or (backward and r.relation == INVERSE[rel.relation]):
            return True
    subject_cells, other_cells = _cells(rewrite.places, rel.subject), _cells(rewrite.places, rel.other)
    decided = [
        _holds(rel.relation, a, b, rel.subject.is_sign, rel.other.is_sign) for a in subject_cells for b in other_cells
    ]
    decided += _by_sign_row(rel, subject_cells, other_cells)
    if True in decided:
        return True
    for r in rewrite.relations:
        forward = _same_thing(rel.subject, r.subject) and _same_thing(rel.other, r.other)
        backward = _same_thing(rel.subject, r.other) and _same_thing(rel.other, r.subject)
        if (forward and r.relation == INVERSE[rel.relation]) or (backward and r.relation == rel.relation):
            return False
    return False if False in decided else None


def _by_sign_row(rel: Relation, subject_cells: list[Cell], other_cells: list[Cell]) -> list[bool | None]:
    """A vertical relation between the sign and an object the rewrite does not place: the
    sign fills the top or bottom row and no object shares it (WORLD.md), so its row decides."""
    if rel.relation not in (ABOVE, BELOW):
        return []
    if rel.subject.is_sign and not other_cells:
        rows, sign_above = [r for r, _ in subject_cells], rel.relation == ABOVE
    elif rel.other.is_sign and not subject_cells:
        rows, sign_above = [r for r, _ in other_cells], rel.relation == BELOW
    else:
        return []
    return [(row == 0) if sign_above else (row == 2) for row in rows if row in (0, 2)]


def _holds(relation: str, a: Cell, b: Cell, a_sign: bool, b_sign: bool) -> bool | None:
    """Whether `relation` holds of cells a and b, None when a needed coordinate is unknown.
    The sign fills its row, so its row decides a vertical relation alone: a sign in the top
    row is above everything else."""
    (ar, ac), (br, bc) = a, b
    if relation in (LEFT, RIGHT):
        if ac is None or bc is None:
            return None
        return ac < bc if relation == LEFT else ac > bc
    if ar is None or br is None:
        return None
    if ar == br and (a_sign or b_sign):
        return None
    return ar < br if relation == ABOVE else ar > br if relation == BELOW else None


# ---------------------------------------------------------------- background, sign, words


def _background(prompt: Intent, rewrite: Intent) -> list[str]:
    stated = rewrite.backgrounds
    b = prompt.background
    if b is None:
        return [f"states more than one background: {', '.join(sorted(stated))}"] if len(stated) > 1 else []
    if b not in stated:
        if stated:
            return [f"states the background {sorted(stated)[0]} where the prompt says {b}"]
        return [f"drops the background {b}"]
    return [f"adds a second background {x}" for x in sorted(stated - {b})]


def _sign(prompt: Intent, rewrite: Intent) -> list[str]:
    found = []
    word = prompt.sign_text
    if word is not None and word not in VOCABULARY:
        if word.casefold() not in {q.casefold() for q in rewrite.quoted}:
            found.append(f"drops the quoted text '{prompt.quoted[0] if prompt.quoted else word}'")
    elif word is not None:
        if word not in rewrite.sign_words:
            other = rewrite.sign_text
            if other is not None:
                found.append(f"states the sign word '{other}' where the prompt says '{word}'")
            else:
                found.append(f"drops the sign word '{word}'")
        else:
            found += [f"adds a second sign word '{w}'" for w in sorted(rewrite.sign_words - {word}) if w in VOCABULARY]
    if prompt.sign_named and rewrite.sign_negated:
        found.append(f"contradicts: the prompt's sign{f' {word!r}' if word else ''} is negated")
    elif prompt.sign_named and word is None and not rewrite.sign_named:
        found.append("drops the sign")
    rewritten = {q.casefold() for q in rewrite.quoted}
    found += [f"drops the quoted text '{q}'" for q in prompt.quoted[1:] if q.casefold() not in rewritten]
    return found


def _outside(prompt: Intent, rewrite: Intent) -> list[str]:
    kept = set(rewrite.outside)
    found = [f"drops the word '{w}'" for w in prompt.outside if w not in kept]
    for b in prompt.bound:
        if b.word not in kept:
            continue
        same = [x for x in rewrite.bound if x.word == b.word]
        found += [
            f"drops the colour {c} of the '{b.word}'" for c in sorted(b.colors) if not any(c in x.colors for x in same)
        ]
        if b.size is not None and not any(x.size == b.size for x in same):
            found.append(f"drops the size {b.size} of the '{b.word}'")
        if b.count is not None and not any(x.count == b.count for x in same):
            counted = next((x.count for x in same if x.count is not None), None)
            if counted is not None:
                found.append(f"states {counted} '{b.word}' where the prompt says {b.count}")
            else:
                found.append(f"drops the count {b.count} of the '{b.word}'")
    return found
