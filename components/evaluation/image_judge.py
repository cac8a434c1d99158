"""Judging generated images clause by clause: what every generator decision is measured by.

The scene parser (components/world/parser.py) reads a 64 x 64 image as a detector would;
each clause of the prompt (prompts.py) is then checked on the parsed scene alone, with a
reason either way. An image passes a prompt only when every clause passes (GenEval's rule),
but the clause scores are kept apart, because a small generator learns colours before
shapes and shapes before places (docs/results.md), and an all-or-nothing score reads zero
long before the model is useless.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from components.evaluation.prompts import CLAUSE_KINDS, Clause, Prompt
from components.world import Scene
from components.world.config import WorldConfig
from components.world.palette import cell_name
from components.world.parser import parse_image
from components.world.relations import relation_holds
from components.world.scene import WorldObject


@dataclass(frozen=True)
class ClauseVerdict:
    clause: Clause
    passed: bool
    reason: str  # "ok: ..." or what was found instead


@dataclass(frozen=True)
class ImageJudgement:
    prompt_id: str
    category: str
    form: str
    verdicts: tuple[ClauseVerdict, ...]
    parsed: Scene

    @property
    def passed(self) -> bool:
        """GenEval's rule: every clause passes."""
        return all(v.passed for v in self.verdicts)

    def failures(self) -> list[str]:
        return [f"{v.clause.describe()}: {v.reason}" for v in self.verdicts if not v.passed]


def _name(o: WorldObject) -> str:
    return f"{o.size} {o.color} {o.shape} at {cell_name(o.row, o.col)}"


def _found(scene: Scene) -> str:
    return "found " + (", ".join(_name(o) for o in scene.objects) if scene.objects else "no objects")


def _of(scene: Scene, color: str | None, shape: str | None) -> list[WorldObject]:
    return [o for o in scene.objects if (color is None or o.color == color) and (shape is None or o.shape == shape)]


def check_clause(clause: Clause, scene: Scene) -> ClauseVerdict:
    """`clause` on a parsed `scene`: passed, and why."""
    kind, color, shape = clause.kind, clause.color, clause.shape
    matches = _of(scene, color, shape)
    if kind in ("colour", "shape", "pair"):
        ok = bool(matches)
        return ClauseVerdict(clause, ok, f"ok: {_name(matches[0])}" if ok else _found(scene))
    if kind in ("place", "size"):
        in_cell = [o for o in matches if (o.row, o.col) == clause.cell]
        if kind == "size":
            in_cell = [o for o in in_cell if o.size == clause.size]
        ok = bool(in_cell)
        return ClauseVerdict(clause, ok, f"ok: {_name(in_cell[0])}" if ok else _found(scene))
    if kind in ("count", "at_least", "fewer_than"):
        n, wanted = len(matches), int(clause.count or 0)
        ok = n == wanted if kind == "count" else n >= wanted if kind == "at_least" else n < wanted
        return ClauseVerdict(clause, ok, f"{'ok: ' if ok else ''}{n} found")
    if kind == "relation":
        assert clause.other is not None
        others = _of(scene, clause.other[0], clause.other[1])
        pairs = [(a, b) for a in matches for b in others if a is not b and relation_holds(a, str(clause.relation), b)]
        if pairs:
            return ClauseVerdict(clause, True, f"ok: {_name(pairs[0][0])}, {_name(pairs[0][1])}")
        return ClauseVerdict(
            clause, False, _found(scene) if matches and others else f"not both present; {_found(scene)}"
        )
    if kind == "background":
        ok = scene.background == clause.background
        return ClauseVerdict(clause, ok, f"{'ok: ' if ok else ''}background {scene.background}")
    if kind == "sign":
        word = scene.sign.text if scene.sign else None
        ok = word == clause.word
        return ClauseVerdict(clause, ok, f"ok: sign {word!r}" if ok else f"sign {word!r}" if word else "no sign read")
    if kind == "no_sign":
        ok = scene.sign is None
        return ClauseVerdict(clause, ok, "ok: no sign" if ok else f"sign {scene.sign.text!r}" if scene.sign else "")
    if kind == "nothing_extra":
        extra = [o for o in scene.objects if (o.color, o.shape) not in set(clause.named)]
        return ClauseVerdict(
            clause, not extra, "ok: nothing else" if not extra else "extra " + ", ".join(map(_name, extra))
        )
    raise ValueError(f"unknown clause kind {kind!r}")


def judge_image(
    image: np.ndarray, prompt: Prompt, form: str = "short", config: WorldConfig | None = None
) -> ImageJudgement:
    """image (64, 64, 3) uint8 RGB, generated for `prompt`'s `form` text -> every clause's verdict."""
    parsed = parse_image(image, config).scene
    verdicts = tuple(check_clause(c, parsed) for c in prompt.clauses(form))
    return ImageJudgement(prompt.id, prompt.category, form, verdicts, parsed)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a share: honest at 0 and 1 and for small n."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Share:
    passed: int
    n: int

    @property
    def value(self) -> float:
        return self.passed / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.passed, self.n)

    def __str__(self) -> str:
        lo, hi = self.interval
        return f"{self.value:.3f} [{lo:.2f}, {hi:.2f}] (n={self.n})"


def summarize(judgements: Sequence[ImageJudgement]) -> dict[str, Share]:
    """Pass shares keyed `<form>/<category>/all` (GenEval's rule), `<form>/<category>/<clause
    kind>` (each clause on its own) and `<form>/all` (every image of the form)."""
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()

    def add(key: str, ok: bool) -> None:
        total[key] += 1
        passed[key] += ok

    for j in judgements:
        add(f"{j.form}/{j.category}/all", j.passed)
        add(f"{j.form}/all", j.passed)
        for v in j.verdicts:
            add(f"{j.form}/{j.category}/{v.clause.kind}", v.passed)
    order = {kind: i for i, kind in enumerate(("all", *CLAUSE_KINDS))}
    keys = sorted(total, key=lambda k: (k.split("/")[:-1], order.get(k.split("/")[-1], 99)))
    return {k: Share(passed[k], total[k]) for k in keys}
