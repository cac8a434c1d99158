"""Evaluation prompts for a generator: GenEval / T2I-CompBench categories built on the shapes
world, each from a scene whose truth is known, in a short and a long form (WORLD.md).

A `Prompt` holds the scene it was made from and three texts:
- short: the category's template ("a purple triangle", "a red circle to the left of a blue
  square", "four pink circles", "a sign that says 'OPEN'"); its clauses are only what it
  states.
- long: the curated writer's descriptive caption of the whole scene (components/world/
  captions.py); its clauses are every fact of the scene: each object's colour, shape, pair,
  place and size, counts, the background, the sign or its absence, and nothing extra.
- unseen: a hand-written phrasing that no caption writer of the world uses ("there is a red
  circle, and what lies behind it is white"): the short form's clauses and the background.
  A generator that learnt the captions' phrasings rather than their meaning shows it here
  (a 2,000-step generator drew the named background on every such prompt and the object on
  few), so the benchmark reports this form apart.

The first five categories are the generator's own (its curve is judged on four of them);
`shape`, `two_shapes` and `background` complete GenEval's set for the benchmark
(benchmark.py maps each to its GenEval tag). Each category draws from its own generator, so
adding one never changes another's prompts.

Clauses are typed (`Clause`) and judged one by one on the scene parsed from a generated image
(image_judge.py), so a model that has learnt colours but not yet shapes shows it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from components.world import Scene
from components.world.captions import describe_scene
from components.world.english import count_word, plural_of, with_article
from components.world.geometry import JITTER, object_centre
from components.world.palette import BACKGROUNDS, COLORS, SHAPES, SIZES, VOCABULARY
from components.world.relations import RELATIONS, relation_holds
from components.world.scene import Sign, WorldObject

CATEGORIES: tuple[str, ...] = (
    "single_object",  # "a purple triangle"
    "two_objects",  # "a red circle and a blue square"
    "spatial",  # "a red circle to the left of a blue square"
    "counting",  # "four pink circles"
    "text",  # "a sign that says 'OPEN'"
    "shape",  # "a triangle": the shape alone, any colour
    "two_shapes",  # "a circle and a square"
    "background",  # "a red circle on a black background"
)
FORMS: tuple[str, ...] = ("short", "long", "unseen")
CLAUSE_KINDS: tuple[str, ...] = (
    "colour",  # some object has the colour
    "shape",  # some object has the shape
    "pair",  # some object has both: the binding
    "place",  # an object of the pair in the stated cell
    "size",  # an object of the pair in the cell with the stated size
    "count",  # exactly `count` objects of the pair
    "at_least",  # `count` or more objects of the pair (GenEval's include)
    "fewer_than",  # fewer than `count` objects of the pair (GenEval's exclude)
    "relation",  # an object of the pair stands in `relation` to an object of `other`
    "background",
    "sign",  # a sign that reads `word`
    "no_sign",
    "nothing_extra",  # every object found is of a pair the prompt names
)


@dataclass(frozen=True)
class Clause:
    """One checkable statement. Fields beyond `kind` are set as the kind needs them."""

    kind: str
    color: str | None = None
    shape: str | None = None
    cell: tuple[int, int] | None = None
    size: str | None = None
    count: int | None = None
    relation: str | None = None
    other: tuple[str | None, str] | None = None  # (colour or None: any, shape) of the relation's second object
    word: str | None = None
    background: str | None = None
    named: tuple[tuple[str, str], ...] = ()  # nothing_extra: the (colour, shape) pairs allowed

    def __post_init__(self) -> None:
        if self.kind not in CLAUSE_KINDS:
            raise ValueError(f"unknown clause kind {self.kind!r}; known: {CLAUSE_KINDS}")

    def describe(self) -> str:
        pair = " ".join(v for v in (self.color, self.shape) if v)
        return {
            "colour": f"colour {self.color}",
            "shape": f"shape {self.shape}",
            "pair": f"a {pair}",
            "place": f"a {pair} in cell {self.cell}",
            "size": f"a {self.size} {pair} in cell {self.cell}",
            "count": f"exactly {self.count} {pair}",
            "at_least": f"{self.count} or more {pair}",
            "fewer_than": f"fewer than {self.count} {pair}",
            "relation": f"a {pair} {self.relation} a {' '.join(v for v in self.other or () if v)}",
            "background": f"a {self.background} background",
            "sign": f"a sign reading {self.word!r}",
            "no_sign": "no sign",
            "nothing_extra": "nothing but " + ", ".join(" ".join(p) for p in self.named),
        }[self.kind]


@dataclass(frozen=True)
class Prompt:
    id: str  # stable within a suite: "<category>/<index>"
    category: str
    scene: Scene  # the scene the prompt was made from (what a correct image would show)
    short: str
    long: str
    short_clauses: tuple[Clause, ...]
    unseen: str
    unseen_clauses: tuple[Clause, ...]

    def text(self, form: str) -> str:
        _check_form(form)
        return {"short": self.short, "long": self.long, "unseen": self.unseen}[form]

    def clauses(self, form: str) -> tuple[Clause, ...]:
        _check_form(form)
        if form == "long":
            return scene_clauses(self.scene)
        return self.short_clauses if form == "short" else self.unseen_clauses


def _check_form(form: str) -> None:
    if form not in FORMS:
        raise ValueError(f"prompt form {form!r} must be one of {FORMS}")


def object_clauses(color: str, shape: str) -> list[Clause]:
    """What "a red circle" states: the colour, the shape, and the two bound together."""
    return [Clause("colour", color=color), Clause("shape", shape=shape), Clause("pair", color=color, shape=shape)]


def scene_clauses(scene: Scene) -> tuple[Clause, ...]:
    """Every fact of a scene, as the long form states it."""
    clauses: list[Clause] = []
    kinds = Counter((o.color, o.shape) for o in scene.objects)
    for (color, shape), n in kinds.items():
        clauses += object_clauses(color, shape)
        if n > 1:
            clauses.append(Clause("count", color=color, shape=shape, count=n))
    for o in scene.objects:
        cell = (o.row, o.col)
        clauses.append(Clause("place", color=o.color, shape=o.shape, cell=cell))
        clauses.append(Clause("size", color=o.color, shape=o.shape, cell=cell, size=o.size))
    clauses.append(Clause("background", background=scene.background))
    clauses.append(Clause("sign", word=scene.sign.text) if scene.sign else Clause("no_sign"))
    clauses.append(Clause("nothing_extra", named=tuple(sorted(kinds))))
    return tuple(clauses)


def _object(rng: np.random.Generator, color: str, shape: str, cell: tuple[int, int]) -> WorldObject:
    dx, dy = (int(v) for v in rng.integers(-JITTER, JITTER + 1, size=2))
    size = tuple(SIZES)[int(rng.integers(len(SIZES)))]
    row, col = cell
    return WorldObject(shape, color, size, row, col, object_centre(col, dx), object_centre(row, dy))


def _scene(rng: np.random.Generator, objects: list[WorldObject], sign: Sign | None = None) -> Scene:
    background = tuple(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    return Scene(background, tuple(sorted(objects, key=lambda o: (o.row, o.col))), sign)


def _cells(rng: np.random.Generator, n: int, rows: tuple[int, ...] = (0, 1, 2)) -> list[tuple[int, int]]:
    free = [(r, c) for r in rows for c in range(3)]
    return [free[i] for i in rng.choice(len(free), size=n, replace=False)]


def _two_kinds(rng: np.random.Generator) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two (colour, shape) kinds differing in both, so a swap of either is visible."""
    c1, c2 = (tuple(COLORS)[i] for i in rng.choice(len(COLORS), size=2, replace=False))
    s1, s2 = (SHAPES[i] for i in rng.choice(len(SHAPES), size=2, replace=False))
    return (c1, s1), (c2, s2)


def _color_shape(rng: np.random.Generator) -> tuple[str, str]:
    return tuple(COLORS)[int(rng.integers(len(COLORS)))], SHAPES[int(rng.integers(len(SHAPES)))]


def make_prompt(category: str, index: int, rng: np.random.Generator) -> Prompt:
    """One prompt of `category`; deterministic given the generator's state."""
    if category == "single_object":
        color, shape = _color_shape(rng)
        scene = _scene(rng, [_object(rng, color, shape, _cells(rng, 1)[0])])
        short = f"{with_article(color)} {shape}"
        clauses = [*object_clauses(color, shape), Clause("nothing_extra", named=((color, shape),))]
    elif category in ("two_objects", "spatial"):
        (c1, s1), (c2, s2) = _two_kinds(rng)
        cells = _cells(rng, 2)
        a, b = _object(rng, c1, s1, cells[0]), _object(rng, c2, s2, cells[1])
        scene = _scene(rng, [a, b])
        clauses = [*object_clauses(c1, s1), *object_clauses(c2, s2)]
        if category == "two_objects":
            short = f"{with_article(c1)} {s1} and {with_article(c2)} {s2}"
        else:
            holding = [r for r in RELATIONS if relation_holds(a, r, b)]
            relation = holding[int(rng.integers(len(holding)))]
            short = f"{with_article(c1)} {s1} {relation} {with_article(c2)} {s2}"
            clauses.append(Clause("relation", color=c1, shape=s1, relation=relation, other=(c2, s2)))
        clauses.append(Clause("nothing_extra", named=tuple(sorted({(c1, s1), (c2, s2)}))))
    elif category == "counting":
        color, shape = _color_shape(rng)
        n = int(rng.integers(2, 7))
        size = tuple(SIZES)[int(rng.integers(len(SIZES)))]
        objects = [_object(rng, color, shape, cell) for cell in _cells(rng, n)]
        scene = _scene(rng, [WorldObject(shape, color, size, o.row, o.col, o.x, o.y) for o in objects])
        short = f"{count_word(n)} {color} {plural_of(shape)}"
        clauses = [*object_clauses(color, shape), Clause("count", color=color, shape=shape, count=n)]
        clauses.append(Clause("nothing_extra", named=((color, shape),)))
    elif category == "shape":
        color, shape = _color_shape(rng)
        scene = _scene(rng, [_object(rng, color, shape, _cells(rng, 1)[0])])
        short = with_article(shape)
        clauses = [Clause("shape", shape=shape)]
    elif category == "two_shapes":
        (c1, s1), (c2, s2) = _two_kinds(rng)
        cells = _cells(rng, 2)
        scene = _scene(rng, [_object(rng, c1, s1, cells[0]), _object(rng, c2, s2, cells[1])])
        short = f"{with_article(s1)} and {with_article(s2)}"
        clauses = [Clause("shape", shape=s1), Clause("shape", shape=s2)]
    elif category == "background":
        color, shape = _color_shape(rng)
        scene = _scene(rng, [_object(rng, color, shape, _cells(rng, 1)[0])])
        short = f"{with_article(color)} {shape} on a {scene.background} background"
        clauses = [*object_clauses(color, shape), Clause("background", background=scene.background)]
    elif category == "text":
        word = VOCABULARY[int(rng.integers(len(VOCABULARY)))]
        row = (0, 2)[int(rng.integers(2))]
        color, shape = _color_shape(rng)
        other_rows = tuple(r for r in range(3) if r != row)
        scene = _scene(rng, [_object(rng, color, shape, _cells(rng, 1, other_rows)[0])], Sign(word, row))
        short = f"a sign that says '{word}'"
        clauses = [Clause("sign", word=word)]
    else:
        raise ValueError(f"unknown prompt category {category!r}; known: {CATEGORIES}")
    long = describe_scene(scene, rng).descriptive
    unseen = unseen_phrasing(category, index, scene, short)
    unseen_clauses = [c for c in clauses if c.kind != "background"] + [
        Clause("background", background=scene.background)
    ]
    return Prompt(f"{category}/{index}", category, scene, short, long, tuple(clauses), unseen, tuple(unseen_clauses))


# Phrasings no caption writer of the world uses (tests/evaluation/test_prompts.py checks them
# against every writer's output): `{what}` is the short form's subject, `{bg}` the background.
# Chosen by the prompt's index, never by the generator, so the other forms' prompts stay put.
UNSEEN_TEMPLATES: tuple[str, ...] = (
    "there {is} {what}, and what lies behind {it} is {bg}",
    "{what}: that is the whole picture, with {bg} everywhere else",
    "make the canvas {bg} and put {what} somewhere in it",
)


def unseen_phrasing(category: str, index: int, scene: Scene, short: str) -> str:
    """The unseen form of a prompt whose short form is `short`."""
    what = short
    if category == "background":  # its short form already names the background
        what = short.rsplit(" on a ", 1)[0]
    elif category == "text":
        what = f"a board whose only word is {scene.sign.text if scene.sign else ''}"
    many = category in ("two_objects", "spatial", "counting", "two_shapes")
    template = UNSEEN_TEMPLATES[index % len(UNSEEN_TEMPLATES)]
    is_ = "are" if category == "counting" else "is"
    return template.format(what=what, bg=scene.background, it="them" if many else "it", **{"is": is_})


def prompt_suite(per_category: int, seed: int = 0, categories: tuple[str, ...] = CATEGORIES) -> list[Prompt]:
    """`per_category` prompts of each category, the same for the same seed (one generator per
    category, so adding a category does not change the others' prompts)."""
    if per_category < 1:
        raise ValueError(f"per_category must be >= 1, got {per_category}")
    unknown = set(categories) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown prompt categories {sorted(unknown)}; known: {CATEGORIES}")
    suite = []
    for number, category in enumerate(CATEGORIES):
        if category in categories:
            rng = np.random.default_rng([seed, number])
            suite += [make_prompt(category, i, rng) for i in range(per_category)]
    return suite
