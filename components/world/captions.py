"""The curated descriptive set: two captions per image that a careful person would write.

short:       5 to 12 words, e.g. "A red circle and two blue squares on a gray background."
descriptive: 40 to 150 words naming every object's colour, shape, size and cell, counts of
             repeated objects, relations between uniquely nameable pairs, the background,
             the sign and its quoted word, and at least one true negative.

Every sentence is built from the scene, so each statement is true by construction: counts
are totals over the scene, relations come from relations.py, negatives name only absent
shapes, colours or pairs. Phrasing varies per caption: sentence patterns, object order,
size synonyms (small / little / tiny; large / big), counts as words or digits, "cross" or
"plus sign", and optional style remarks. Optional sentences are added only while the
descriptive caption stays within 150 words; fillers are added until it reaches 40.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from components.text.words import word_count

from .english import count_word, plural_of, with_article
from .palette import COLORS, SHAPES
from .relations import ABOVE, INVERSE, LEFT, horizontal_relation, vertical_relation
from .scene import Scene, WorldObject

SHORT_WORDS = (5, 12)
DESCRIPTIVE_WORDS = (40, 150)


# Place phrases per cell; each is true of the cell's prose name in WORLD.md.
_WHERE: dict[tuple[int, int], tuple[str, ...]] = {
    (0, 0): ("in the top left", "in the top left corner", "at the top left"),
    (0, 1): ("at the top", "in the top center", "at the top center"),
    (0, 2): ("in the top right", "in the top right corner", "at the top right"),
    (1, 0): ("on the left", "at the left", "on the left side", "in the middle left"),
    (1, 1): ("in the center", "in the middle", "at the center", "right in the middle"),
    (1, 2): ("on the right", "at the right", "on the right side", "in the middle right"),
    (2, 0): ("in the bottom left", "in the bottom left corner", "at the bottom left"),
    (2, 1): ("at the bottom", "in the bottom center", "at the bottom center"),
    (2, 2): ("in the bottom right", "in the bottom right corner", "at the bottom right"),
}
_CELL_NOUNS: dict[tuple[int, int], str] = {
    (0, 0): "the top left",
    (0, 1): "the top",
    (0, 2): "the top right",
    (1, 0): "the left",
    (1, 1): "the center",
    (1, 2): "the right",
    (2, 0): "the bottom left",
    (2, 1): "the bottom",
    (2, 2): "the bottom right",
}


@dataclass(frozen=True)
class SceneCaptions:
    """The curated writer's two captions of one scene, every statement true."""

    short: str
    descriptive: str


def describe_scene(scene: Scene, rng: np.random.Generator) -> SceneCaptions:
    if not scene.objects:
        raise ValueError("describe_scene needs a scene with at least one object")
    style = _Style(rng)
    short = _short_caption(scene, rng, style)
    descriptive = _descriptive_caption(scene, rng, style)
    for name, text, (lo, hi) in (("short", short, SHORT_WORDS), ("descriptive", descriptive, DESCRIPTIVE_WORDS)):
        n = word_count(text)
        if not lo <= n <= hi:
            raise RuntimeError(f"{name} caption has {n} words, outside [{lo}, {hi}]: {text!r}")
    return SceneCaptions(short=short, descriptive=descriptive)


# ---------------------------------------------------------------- wording helpers


def _pick(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(items: Sequence[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


class _Style:
    """Per-caption wording choices, so one caption reads consistently."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.digits = bool(rng.random() < 0.25)
        self.cross = "plus sign" if rng.random() < 0.15 else "cross"
        self.small = _pick(rng, ("small", "small", "small", "little", "tiny"))
        self.large = _pick(rng, ("large", "large", "big"))

    def size(self, size: str) -> str:
        if self.rng.random() < 0.2:  # an occasional synonym within a caption
            return _pick(self.rng, ("small", "little", "tiny") if size == "small" else ("large", "big"))
        return self.small if size == "small" else self.large

    def noun(self, shape: str, plural: bool = False) -> str:
        name = self.cross if shape == "cross" else shape
        if not plural:
            return name
        return plural_of(name)

    def number(self, n: int, start: bool = False) -> str:
        """A count: a digit in digit style (never at a sentence start), else a word."""
        if self.digits and not start:
            return str(n)
        word = count_word(n)
        return _cap(word) if start else word

    def kind(self, o: WorldObject, size: bool = True, plural: bool = False) -> str:
        """ "large red circle" (no article)."""
        words = ([self.size(o.size)] if size else []) + [o.color, self.noun(o.shape, plural)]
        return " ".join(words)


def _where(rng: np.random.Generator, o: WorldObject) -> str:
    return _pick(rng, _WHERE[(o.row, o.col)])


def _groups(scene: Scene) -> dict[tuple[str, str], list[WorldObject]]:
    groups: dict[tuple[str, str], list[WorldObject]] = {}
    for o in scene.objects:
        groups.setdefault((o.color, o.shape), []).append(o)
    return groups


def _is_counting(scene: Scene) -> bool:
    """All objects identical in colour, shape and size, and more than one."""
    kinds = {(o.color, o.shape, o.size) for o in scene.objects}
    return len(scene.objects) >= 2 and len(kinds) == 1


# ---------------------------------------------------------------- short caption


def _short_caption(scene: Scene, rng: np.random.Generator, style: _Style) -> str:
    """Every colour-shape group with its count, the background and the sign word when that
    fits in 12 words, else a count summary. Wordings are tried in tiers, fullest first:
    with articles and (some) sizes, with articles, then terse lists without articles."""
    groups = [list(g) for g in _groups(scene).values()]
    groups = [groups[int(i)] for i in rng.permutation(len(groups))]
    sized = [len({o.size for o in g}) == 1 and rng.random() < 0.3 for g in groups]

    def listing(articles: bool, sizes: bool) -> str:
        items = []
        for g, with_size in zip(groups, sized, strict=False):
            kind = style.kind(g[0], size=sizes and with_size, plural=len(g) > 1)
            if len(g) > 1:
                items.append(f"{style.number(len(g))} {kind}")
            else:
                items.append(with_article(kind) if articles else kind)
        return _join(items)

    bg = scene.background
    n = len(scene.objects)
    word = None if scene.sign is None else scene.sign.text
    sign_row = None if scene.sign is None else scene.sign.row
    bg_phrases = (f"on a {bg} background", f"on {bg}", f"against a {bg} backdrop", f"on a plain {bg} background")
    lo, hi = SHORT_WORDS
    for articles, sizes in ((True, True), (True, False), (False, True), (False, False)):
        listed = listing(articles, sizes)
        if word is None:
            candidates = [f"{_cap(listed)} {p}." for p in bg_phrases]
            candidates += [f"{'Simple shapes' if n > 1 else 'A simple shape'}: {listed} {p}." for p in bg_phrases]
            candidates.append(f"{_cap(with_article(bg))} background with {listed}.")
        else:
            candidates = [f"{_cap(listed)} and a sign reading '{word}' {p}." for p in bg_phrases]
            candidates += [f"{_cap(listed)} and a sign that says '{word}' {p}." for p in bg_phrases]
            candidates += [f"{_cap(listed)} {p}, with a sign saying '{word}'." for p in bg_phrases]
            candidates.append(f"{_cap(with_article(bg))} background with {listed} and a sign reading '{word}'.")
            candidates.append(
                f"A sign reading '{word}' above {listed} on {bg}."
                if sign_row == 0
                else f"{_cap(listed)} on {bg}, above a sign reading '{word}'."
            )
            if not articles:
                a = "an" if word[0] in "AEIOU" else "a"
                candidates.append(f"{_cap(listed.replace(' and ', ', '))} and {a} '{word}' sign on {bg}.")
        fitting = _fitting(candidates, lo, hi)
        if fitting:
            return _pick(rng, fitting)
    shapes = "shape" if n == 1 else "shapes"
    count = style.number(n, start=True)
    first = with_article(style.kind(groups[0][0], size=False))
    if word is not None:
        fallback = [f"{count} {shapes} and a sign reading '{word}' on {bg}."]
    else:
        fallback = [
            f"{count} {shapes} on a {bg} background, including {first}.",
            f"{count} colorful {shapes} on a {bg} background.",
            f"A {bg} background with {style.number(n)} {shapes}.",
        ]
    return _pick(rng, _fitting(fallback, lo, hi))


def _fitting(texts: Sequence[str], lo: int, hi: int) -> list[str]:
    return [t for t in texts if lo <= word_count(t) <= hi]


# ---------------------------------------------------------------- descriptive caption


@dataclass
class _Part:
    text: str
    required: bool


def _descriptive_caption(scene: Scene, rng: np.random.Generator, style: _Style) -> str:
    counting = _is_counting(scene)
    opening, bg_said = _opening(scene, rng, style, counting)
    head = [_Part(opening, True)]
    named = len(scene.objects) == 1 and style.kind(scene.objects[0], size=False) in opening
    background = [] if bg_said else [_Part(_background_sentence(scene, rng), True)]
    block = _counting_block(scene, rng, style) if counting else _object_block(scene, rng, style, named)
    objects = [_Part(t, True) for t in block]
    counts = [] if counting else [_Part(t, True) for t in _count_sentences(scene, rng, style)]
    sign = [_Part(t, i == 0) for i, t in enumerate(_sign_sentences(scene, rng))]
    relations = [_Part(t, False) for t in _relation_sentences(scene, rng, style)]
    negatives = [_Part(t, i == 0) for i, t in enumerate(_negative_sentences(scene, rng, style))]
    remarks = [_Part(t, False) for t in _style_remarks(scene, rng)]

    # Block order varies: the sign before or after the objects, the background early or late.
    body = objects + counts
    body = sign + body if sign and rng.random() < 0.4 else body + sign
    if rng.random() < 0.5:
        parts = head + background + body + relations
    else:
        parts = head + body + relations + background
    tail = negatives + remarks if rng.random() < 0.6 else remarks + negatives
    parts += tail

    # Keep all required parts; drop optional ones (in random order) until within budget.
    lo, hi = DESCRIPTIVE_WORDS
    optional = [i for i, p in enumerate(parts) if not p.required]
    rng.shuffle(optional)
    keep = [True] * len(parts)
    total = sum(word_count(p.text) for p in parts)
    for i in optional:
        if total <= hi:
            break
        keep[i] = False
        total -= word_count(parts[i].text)
    sentences = [p.text for p, k in zip(parts, keep, strict=False) if k]
    for filler in _fillers(scene, rng, style):
        if total >= lo:
            break
        if total + word_count(filler) <= hi:
            sentences.insert(len(sentences) - int(rng.integers(0, 2)), filler)
            total += word_count(filler)
    return " ".join(sentences)


def _opening(scene: Scene, rng: np.random.Generator, style: _Style, counting: bool) -> tuple[str, bool]:
    """First sentence and whether it names the background."""
    bg = scene.background
    n = len(scene.objects)
    sb = "" if scene.sign is None else _pick(rng, (" and a sign", " and a white sign"))
    sb_end = "" if scene.sign is None else _pick(rng, (", along with a sign", ", together with a white sign"))
    if counting:
        o = scene.objects[0]
        kind = style.kind(o, plural=True)
        options = [
            (f"{style.number(n, True)} identical {kind}{sb} sit on a {bg} background.", True),
            (f"The image shows {style.number(n)} {kind}{sb} on a plain {bg} background.", True),
            (f"There are {style.number(n)} {kind}{sb} in this picture.", False),
            (f"This picture repeats one shape: {style.number(n)} {kind}{sb_end}.", False),
            (f"{style.number(n, True)} matching {kind}{sb} are spread over a {bg} backdrop.", True),
            (f"Here we see {style.number(n)} {kind}{sb} against a solid {bg} background.", True),
        ]
        return _pick(rng, options)
    if n == 1:
        o = scene.objects[0]
        thing = with_article(style.kind(o))
        options = [
            (f"This image shows {thing}{sb} on a {bg} background.", True),
            (f"A single shape sits on a plain {bg} background{sb_end}.", True),
            (f"The picture contains just one shape{sb}.", False),
            (f"A minimal illustration with one object, {thing}{sb_end}.", False),
            (f"Here we have {thing}{sb} against a solid {bg} backdrop.", True),
            (f"The image is mostly empty {bg} space with one shape in it{sb_end}.", True),
            (f"We are looking at a lone shape{sb} on a {bg} background.", True),
        ]
        return _pick(rng, options)
    num, Num = style.number(n), style.number(n, True)
    options = [
        (f"This image shows {num} shapes{sb} on a {bg} background.", True),
        (f"A simple picture with {num} flat shapes{sb} on a plain {bg} background.", True),
        (f"{Num} geometric shapes{sb} are arranged on a {bg} background.", True),
        (f"Here we have {num} shapes{sb} against a solid {bg} backdrop.", True),
        (f"A minimal illustration of {num} shapes{sb_end}.", False),
        (f"The image contains {num} colored shapes{sb}.", False),
        (f"This is a small synthetic picture with {num} shapes{sb}.", False),
        (f"The picture is a plain {bg} field holding {num} shapes{sb}.", True),
        (f"At a glance, {num} shapes{sb} are scattered over a {bg} background.", True),
        (f"We are looking at {num} simple shapes{sb} on a {bg} backdrop.", True),
    ]
    return _pick(rng, options)


def _background_sentence(scene: Scene, rng: np.random.Generator) -> str:
    bg = scene.background
    them = "it" if len(scene.objects) == 1 and scene.sign is None else "them"
    return _pick(
        rng,
        (
            f"The background is a flat {bg}.",
            f"Everything sits on a plain {bg} background.",
            f"Behind {them} is a uniform {bg} background.",
            f"The backdrop is solid {bg}.",
            f"All of it is set against a {bg} background.",
            f"The whole background is {bg}.",
        ),
    )


def _object_sentence(rng: np.random.Generator, thing: str, where: str) -> str:
    """One object: `thing` with its article ("a large red circle"), `where` ("in the top left")."""
    templates: tuple[Callable[[], str], ...] = (
        lambda: f"{_cap(thing)} sits {where}.",
        lambda: f"{_cap(where)}, there is {thing}.",
        lambda: f"{_cap(where)} is {thing}.",
        lambda: f"There is {thing} {where}.",
        lambda: f"{_cap(thing)} is {where}.",
        lambda: f"{_cap(thing)} appears {where}.",
        lambda: f"You can see {thing} {where}.",
        lambda: f"{_cap(thing)} is placed {where}.",
        lambda: f"{_cap(where)} we see {thing}.",
        lambda: f"{_cap(thing)} can be found {where}.",
        lambda: f"{_cap(thing)} rests {where}.",
    )
    return _pick(rng, templates)()


def _object_block(scene: Scene, rng: np.random.Generator, style: _Style, named: bool) -> list[str]:
    """Where each object is; `named`: the opening already named the single object."""
    objects = list(scene.objects)
    if named:
        o = objects[0]
        the = f"the {style.kind(o, size=False)}"
        where = _where(rng, o)
        return [
            _pick(
                rng,
                (
                    f"{_cap(the)} sits {where}.",
                    f"{_cap(the)} is {where}.",
                    f"It sits {where}.",
                    f"{_cap(the)} is placed {where}.",
                    f"You can see it {where}.",
                    f"{_cap(where)} is where {the} sits.",
                ),
            )
        ]
    order = _pick(rng, ("row-major", "reverse", "random", "large-first", "column-major"))
    if order == "reverse":
        objects.reverse()
    elif order == "random":
        objects = [objects[int(i)] for i in rng.permutation(len(objects))]
    elif order == "large-first":
        objects.sort(key=lambda o: o.size != "large")
    elif order == "column-major":
        objects.sort(key=lambda o: (o.col, o.row))
    seen: set[tuple[str, str, str]] = set()
    things = []
    for o in objects:
        kind = (o.color, o.shape, o.size)
        if kind in seen and rng.random() < 0.6:
            things.append("another " + style.kind(o))
        else:
            things.append(with_article(style.kind(o)))
        seen.add(kind)

    mode = "separate" if len(objects) == 1 else _pick(rng, ("separate", "separate", "separate", "paired", "list"))
    if mode == "list":
        ordered = sorted(zip(objects, things, strict=False), key=lambda p: (p[0].row, p[0].col))
        items = [f"{t} {_where(rng, o)}" for o, t in ordered]
        lead = _pick(
            rng, ("Reading row by row, there is", "Row by row, the picture holds", "From top to bottom, there is")
        )
        return [f"{lead} {_join(items)}."]
    sentences = []
    i = 0
    while i < len(objects):
        if mode == "paired" and i + 1 < len(objects):
            a, b = things[i], things[i + 1]
            wa, wb = _where(rng, objects[i]), _where(rng, objects[i + 1])
            sentences.append(
                _pick(
                    rng,
                    (
                        f"{_cap(a)} is {wa}, and {b} is {wb}.",
                        f"{_cap(wa)} is {a}, while {wb} is {b}.",
                        f"There is {a} {wa} and {b} {wb}.",
                    ),
                )
            )
            i += 2
        else:
            sentences.append(_object_sentence(rng, things[i], _where(rng, objects[i])))
            i += 1
    return sentences


def _counting_block(scene: Scene, rng: np.random.Generator, style: _Style) -> list[str]:
    objects = list(scene.objects)
    o = objects[0]
    n = len(objects)
    # The opening already gives the count, colour, shape and size; this only adds sameness.
    same = _pick(
        rng,
        (
            "They are all the same size and color.",
            f"Every one of them is {with_article(style.kind(o))}.",
            "Each one is identical to the others.",
            "Both are exactly alike." if n == 2 else f"All {style.number(n)} look exactly alike.",
        ),
    )
    places = [_where(rng, x) for x in objects]
    nouns = [_CELL_NOUNS[(x.row, x.col)] for x in objects]
    positions = _pick(
        rng,
        (
            f"They sit {_join(places)}.",
            f"Their positions are {_join(nouns)}.",
            "One is " + ", ".join([places[0]] + [f"one {p}" for p in places[1:-1]]) + f", and one {places[-1]}.",
            f"You can find them {_join(places)}.",
        ),
    )
    if rng.random() < 0.5:
        return [positions]
    return [same, positions] if rng.random() < 0.3 else [positions, same]


def _count_sentences(scene: Scene, rng: np.random.Generator, style: _Style) -> list[str]:
    """A count for every colour-shape pair that occurs more than once (ordinary scenes)."""
    sentences = []
    for (color, shape), group in _groups(scene).items():
        if len(group) < 2:
            continue
        n = len(group)
        sizes = {o.size for o in group}
        size = style.size(group[0].size) + " " if len(sizes) == 1 and rng.random() < 0.4 else ""
        kind = f"{size}{color} {style.noun(shape, plural=True)}"
        sentences.append(
            _pick(
                rng,
                (
                    f"There are {style.number(n)} {kind} in total.",
                    f"In all, the picture has {style.number(n)} {kind}.",
                    f"Counting them, there are {style.number(n)} {kind}.",
                    f"That makes {style.number(n)} {kind} altogether.",
                ),
            )
        )
    return sentences


def _unique_reference(scene: Scene, o: WorldObject, style: _Style) -> str | None:
    """ "the red circle" when that pair is unique, "the large red circle" when that is; else None."""
    same_pair = [x for x in scene.objects if (x.color, x.shape) == (o.color, o.shape)]
    if len(same_pair) == 1:
        return f"the {o.color} {style.noun(o.shape)}"
    same_kind = [x for x in same_pair if x.size == o.size]
    if len(same_kind) == 1:
        return f"the {style.size(o.size)} {o.color} {style.noun(o.shape)}"
    return None


def _relation_sentences(scene: Scene, rng: np.random.Generator, style: _Style) -> list[str]:
    named = [(o, ref) for o in scene.objects if (ref := _unique_reference(scene, o, style)) is not None]
    if len(named) < 2:
        return []
    pairs = [(a, b) for i, a in enumerate(named) for b in named[i + 1 :]]
    order = rng.permutation(len(pairs))[:2]
    sentences = []
    for k in order:
        (a, ra), (b, rb) = pairs[int(k)]
        if rng.random() < 0.5:
            (a, ra), (b, rb) = (b, rb), (a, ra)
        h, v = horizontal_relation(a, b), vertical_relation(a, b)
        options = []
        if h and v:
            options.append(f"{_cap(ra)} is {v} and {h} {rb}.")
            options.append(f"{_cap(rb)} is {INVERSE[v]} and {INVERSE[h]} {ra}.")
        for rel, other in ((h, v), (v, h)):
            if rel is None:
                continue
            options.append(f"{_cap(ra)} is {rel} {rb}.")
            options.append(f"{_cap(ra)} sits {rel} {rb}.")
            options.append(f"{_cap(rb)} is {INVERSE[rel]} {ra}.")
            if other is None:
                options.append(f"{_cap(ra)} is directly {rel} {rb}.")
        if h is not None and v is None:
            side = "left" if h == LEFT else "right"
            options.append(f"{_cap(ra)} and {rb} share a row, with {ra} on the {side}.")
        if v is not None and h is None:
            end = "top" if v == ABOVE else "bottom"
            options.append(f"{_cap(ra)} and {rb} share a column, with {ra} at the {end}.")
        sentences.append(_pick(rng, options))
        if a.size != b.size and rng.random() < 0.4:
            bigger, smaller = (ra, rb) if a.size == "large" else (rb, ra)
            sentences.append(
                _pick(rng, (f"{_cap(bigger)} is bigger than {smaller}.", f"{_cap(smaller)} is smaller than {bigger}."))
            )
    return sentences


def _sign_sentences(scene: Scene, rng: np.random.Generator) -> list[str]:
    if scene.sign is None:
        return []
    word = scene.sign.text
    end = "top" if scene.sign.row == 0 else "bottom"
    main = _pick(
        rng,
        (
            f"A white sign across the {end} reads '{word}'.",
            f"Along the {end} of the image runs a white sign with a thin black border; "
            f"it reads '{word}' in black capital letters.",
            f"The {end} row holds a white sign that says '{word}'.",
            f"A white rectangular sign at the {end} shows the word '{word}' in black capitals.",
            f"At the {end} there is a white sign reading '{word}'.",
            f"A sign with the word '{word}' spans the {end} of the picture.",
            f"Across the {end}, a white sign reads '{word}'.",
        ),
    )
    extras = [f"Nothing else shares the {end} row with the sign.", "The sign uses blocky black letters."]
    if "border" not in main:
        extras.append("The sign has a thin black border.")
    extra = _pick(rng, extras)
    return [main, extra]


def _negative_sentences(scene: Scene, rng: np.random.Generator, style: _Style) -> list[str]:
    """True negatives, in random order; the first is kept, the rest are optional."""
    present_shapes = {o.shape for o in scene.objects}
    present_colors = {o.color for o in scene.objects}
    present_pairs = {(o.color, o.shape) for o in scene.objects}
    absent_shapes = [s for s in SHAPES if s not in present_shapes]
    absent_colors = [c for c in COLORS if c not in present_colors]
    one = len(scene.objects) == 1
    pool: list[str] = []
    if absent_shapes:
        s = _pick(rng, absent_shapes)
        plural = style.noun(s, plural=True)
        options = [
            f"There are no {plural}.",
            f"No {plural} appear.",
            f"You will not find any {plural} here.",
            f"The picture has no {plural}.",
        ]
        if len(absent_shapes) >= 2:
            t = style.noun(_pick(rng, [x for x in absent_shapes if x != s]), plural=True)
            options += [f"There are no {plural} or {t}.", f"Neither {plural} nor {t} appear."]
        pool.append(_pick(rng, options))
    c = _pick(rng, absent_colors)
    pool.append(
        _pick(
            rng,
            (
                f"Nothing is {c}.",
                f"The shape is not {c}." if one else f"None of the shapes are {c}.",
                f"There is no {c} anywhere.",
            ),
        )
    )
    absent_pairs = [(o.color, s) for o in scene.objects for s in SHAPES if (o.color, s) not in present_pairs]
    if absent_pairs:
        color, shape = _pick(rng, absent_pairs)
        pool.append(f"There are no {color} {style.noun(shape, plural=True)}.")
    pool.append(
        _pick(
            rng,
            (
                "Nothing else is in the picture.",
                "There is nothing else in the image.",
                "No other objects appear.",
            ),
        )
    )
    if scene.sign is None:
        pool.append(
            _pick(rng, ("There is no sign or text.", "The image contains no text.", "No writing appears anywhere."))
        )
    order = rng.permutation(len(pool))
    return [pool[int(i)] for i in order[:3]]


def _style_remarks(scene: Scene, rng: np.random.Generator) -> list[str]:
    if rng.random() < 0.4:
        return []
    shapes = "The shape is" if len(scene.objects) == 1 else "The shapes are"
    return [
        _pick(
            rng,
            (
                f"{shapes} flat, vector-like and have no shading.",
                "Everything is drawn in flat, solid color with crisp edges.",
                "It looks like simple clip art.",
                "The style is minimal, almost like a pixel-art icon.",
                "The colors are solid, without gradients or outlines.",
                "Edges are hard and slightly pixelated.",
                "The whole thing has a clean, geometric look.",
            ),
        )
    ]


def _fillers(scene: Scene, rng: np.random.Generator, style: _Style) -> list[str]:
    """True but low-information sentences, tried in random order to reach 40 words."""
    one = len(scene.objects) == 1
    o = _pick(rng, scene.objects)
    fraction = "a quarter" if o.size == "large" else "a sixth"
    pool = [
        "The rest of the canvas is empty.",
        "The image is small, only 64 pixels on each side.",
        f"The {o.color} {style.noun(o.shape)} is about {fraction} of the image wide.",
        "The shape is a single flat color." if one else "Each shape is a single flat color.",
        (
            "It is upright and stays clear of the image edges."
            if one
            else "All of the shapes are upright and stay clear of the edges."
        ),
        "There is plenty of empty space around it." if one else "There is empty space between the shapes.",
        "The lighting is even, with no shadows anywhere.",
        "The composition is simple and uncluttered.",
    ]
    if not one:
        pool.append("None of the shapes touch or overlap.")
    order = rng.permutation(len(pool))
    return [pool[int(i)] for i in order]
