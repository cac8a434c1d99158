"""The benchmark: a fixed, versioned prompt suite in GenEval's categories plus the world's own,
each prompt in three forms (prompts.py: short, long, unseen) with its truth, and the GenEval
metadata line that carries it to any generator.

One `BenchmarkEntry` is one prompt in one form: what GenEval calls a prompt folder
(benchmark_folder.py writes `<NNNNN>/metadata.jsonl`). Its metadata holds GenEval's fields
(`tag`, `prompt`, `include` with `class`, `count`, `color`, `position`; `exclude`) so
GenEval's own tools read it, plus `background`, `text` and `form`, the typed clauses the
image is judged by (`clauses`) and the scene a correct image shows (`scene`).

A metadata line without `clauses` (GenEval's own, or a user's) is judged by clauses derived
from its GenEval fields; a class, colour, background or sign word the world does not have
cannot be judged, and is kept as `unjudgeable`, never counted as a failure.

Categories, as GenEval names them (the prompts.py category in brackets):
    single_object "a triangle" (shape)            two_object "a circle and a square" (two_shapes)
    counting "four pink circles" (counting)       colors "a purple triangle" (single_object)
    position "a red circle above a blue square" (spatial)
    color_attr "a red circle and a blue square" (two_objects)
    background "a red circle on a black background"   text "a sign that says 'OPEN'"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from components.evaluation.generator_eval import EVAL_SEED
from components.evaluation.prompts import CLAUSE_KINDS, FORMS, Clause, Prompt, prompt_suite
from components.world import Scene
from components.world.palette import BACKGROUNDS, COLORS, SHAPES, VOCABULARY
from components.world.relations import ABOVE, BELOW, LEFT, RIGHT

SUITE_NAME = "recap-shapes"
SUITE_VERSION = 1  # raise whenever a prompt, a clause or a field of the suite changes
GENEVAL_TAGS: dict[str, str] = {  # prompts.py category -> GenEval tag, in GenEval's order
    "shape": "single_object",
    "two_shapes": "two_object",
    "counting": "counting",
    "single_object": "colors",
    "spatial": "position",
    "two_objects": "color_attr",
    "background": "background",
    "text": "text",
}
TAGS: tuple[str, ...] = tuple(GENEVAL_TAGS.values())
GENEVAL_RELATIONS = {LEFT: "left of", RIGHT: "right of", ABOVE: "above", BELOW: "below"}
_RELATIONS_BY_WORD = {word: relation for relation, word in GENEVAL_RELATIONS.items()}


@dataclass(frozen=True)
class BenchmarkEntry:
    index: int  # the folder number: <NNNNN>
    prompt_id: str  # "<category>/<i>" of prompts.py, or the metadata's own id
    tag: str  # GenEval's category name (TAGS, or whatever a foreign metadata line says)
    form: str  # short, long, unseen; "user" for a line that names none
    prompt: str
    clauses: tuple[Clause, ...]  # what a correct image satisfies, all checkable on a parsed scene
    unjudgeable: tuple[str, ...] = ()  # what the prompt asks that the world cannot check, and why
    scene: Scene | None = None  # the truth, where the suite made the prompt from one
    user_prompt: str | None = None  # an upsampled entry's prompt as the user wrote it (`prompt` is the rewrite)

    @property
    def key(self) -> str:
        """Stable across generators and runs: what pairs two generators' images."""
        return f"{self.prompt_id}@{self.form}"


def benchmark_suite(per_category: int, seed: int = EVAL_SEED, forms: Sequence[str] = FORMS) -> list[BenchmarkEntry]:
    """Every category's `per_category` prompts in every form, numbered form by form."""
    unknown = set(forms) - set(FORMS)
    if unknown:
        raise ValueError(f"unknown prompt forms {sorted(unknown)}; known: {FORMS}")
    prompts = prompt_suite(per_category, seed=seed, categories=tuple(GENEVAL_TAGS))
    prompts.sort(key=lambda p: (TAGS.index(GENEVAL_TAGS[p.category]), int(p.id.split("/")[1])))
    pairs = [(prompt, form) for form in forms for prompt in prompts]
    return [_entry(i, prompt, form) for i, (prompt, form) in enumerate(pairs)]


def _entry(index: int, prompt: Prompt, form: str) -> BenchmarkEntry:
    return BenchmarkEntry(
        index, prompt.id, GENEVAL_TAGS[prompt.category], form, prompt.text(form), prompt.clauses(form), (), prompt.scene
    )


# ---- the metadata line ----


def clause_to_dict(clause: Clause) -> dict[str, Any]:
    return {k: v for k, v in asdict(clause).items() if v not in (None, ())}


def clause_from_dict(d: Mapping[str, Any]) -> Clause:
    fields = dict(d)
    for name in ("cell", "other"):
        if fields.get(name) is not None:
            fields[name] = tuple(fields[name])
    if "named" in fields:
        fields["named"] = tuple(tuple(pair) for pair in fields["named"])
    return Clause(**fields)


def geneval_fields(clauses: Sequence[Clause]) -> dict[str, Any]:
    """GenEval's `include` / `exclude` (and our `background`, `text`) stating what `clauses` state."""
    include: list[dict[str, Any]] = []
    exclude: list[dict[str, Any]] = []
    where: dict[tuple[str | None, str], int] = {}  # (colour, shape) -> its include entry

    def entry(color: str | None, shape: str) -> dict[str, Any]:
        if (color, shape) not in where:
            where[(color, shape)] = len(include)
            include.append({"class": shape, "count": 1, **({"color": color} if color else {})})
        return include[where[(color, shape)]]

    for c in clauses:
        if c.kind == "pair" and c.shape:
            entry(c.color, c.shape)
    for c in clauses:
        if c.kind == "shape" and c.shape and not any(shape == c.shape for _, shape in where):
            entry(None, c.shape)
        elif c.kind == "count" and c.shape:
            entry(c.color, c.shape)["count"] = c.count
            exclude.append(
                {"class": c.shape, "count": int(c.count or 0) + 1, **({"color": c.color} if c.color else {})}
            )
        elif c.kind == "relation" and c.shape and c.other:
            other = where.get(c.other) if c.other in where else where.get((None, c.other[1]))
            entry(c.color, c.shape)["position"] = [GENEVAL_RELATIONS[str(c.relation)], other]
    background = next((c.background for c in clauses if c.kind == "background"), None)
    text = next((c.word for c in clauses if c.kind == "sign"), None)
    return {"include": include, "exclude": exclude, "background": background, "text": text}


def metadata_line(entry: BenchmarkEntry) -> dict[str, Any]:
    """The JSON object of `<NNNNN>/metadata.jsonl`."""
    return {
        "tag": entry.tag,
        "prompt": entry.prompt,
        **geneval_fields(entry.clauses),
        "form": entry.form,
        "id": entry.prompt_id,
        "suite": f"{SUITE_NAME}/{SUITE_VERSION}",
        "clauses": [clause_to_dict(c) for c in entry.clauses],
        "scene": None if entry.scene is None else entry.scene.to_dict(),
        **({} if entry.user_prompt is None else {"user_prompt": entry.user_prompt}),
    }


def entry_from_metadata(index: int, line: Mapping[str, Any]) -> BenchmarkEntry:
    """A metadata object back into an entry; ValueError naming the field that is wrong."""
    for field in ("tag", "prompt"):
        if not isinstance(line.get(field), str):
            raise ValueError(f"field {field!r} must be a string, got {line.get(field)!r}")
    if "clauses" in line:
        clauses, unjudgeable = tuple(_clause(d) for d in line["clauses"]), ()
    else:
        clauses, unjudgeable = clauses_from_geneval(line)
    scene = Scene.from_dict(line["scene"]) if line.get("scene") else None
    prompt_id = str(line.get("id", f"{line['tag']}/{index:05d}"))
    user_prompt = line.get("user_prompt")
    if user_prompt is not None and not isinstance(user_prompt, str):
        raise ValueError(f"field 'user_prompt' must be a string, got {user_prompt!r}")
    return BenchmarkEntry(
        index,
        prompt_id,
        line["tag"],
        str(line.get("form", "user")),
        line["prompt"],
        clauses,
        unjudgeable,
        scene,
        user_prompt,
    )


def _clause(d: Any) -> Clause:
    if not isinstance(d, Mapping) or d.get("kind") not in CLAUSE_KINDS:
        raise ValueError(f"a clause must be an object whose kind is one of {CLAUSE_KINDS}, got {d!r}")
    try:
        return clause_from_dict(d)
    except TypeError as error:
        raise ValueError(f"clause {dict(d)}: {error}") from None


def clauses_from_geneval(line: Mapping[str, Any]) -> tuple[tuple[Clause, ...], tuple[str, ...]]:
    """GenEval's rule on the world: every included class present `count` times or more (with its
    colour), each excluded class fewer than `count` times, positions as stated; plus the
    background and sign word where named. What the world has no word for is unjudgeable."""
    clauses: list[Clause] = []
    unjudgeable: list[str] = []
    include = _objects(line, "include")
    judgeable = [_judgeable(req, unjudgeable) for req in include]
    for req, ok in zip(include, judgeable, strict=True):
        if not ok:
            continue
        color, shape, count = req.get("color"), req["class"], int(req.get("count", 1))
        clauses.append(Clause("pair", color=color, shape=shape) if color else Clause("shape", shape=shape))
        if count > 1:
            clauses.append(Clause("at_least", color=color, shape=shape, count=count))
        if req.get("position"):
            clauses += _position(req, include, judgeable, unjudgeable)
    for req in _objects(line, "exclude"):
        if _judgeable(req, unjudgeable):
            clauses.append(Clause("fewer_than", color=req.get("color"), shape=req["class"], count=int(req["count"])))
    background, word = line.get("background"), line.get("text")
    if background is not None:
        if background in BACKGROUNDS:
            clauses.append(Clause("background", background=background))
        else:
            unjudgeable.append(f"background {background!r}: the world's are {sorted(BACKGROUNDS)}")
    if word is not None:
        if word in VOCABULARY:
            clauses.append(Clause("sign", word=word))
        else:
            unjudgeable.append(f"sign text {word!r}: the world's signs read only {', '.join(VOCABULARY)}")
    return _merge_counts(clauses), tuple(unjudgeable)


def _objects(line: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    value = line.get(field, [])
    if not isinstance(value, list) or not all(
        isinstance(r, Mapping) and isinstance(r.get("class"), str) for r in value
    ):
        raise ValueError(f"field {field!r} must be a list of objects each with a 'class', got {value!r}")
    return value


def _judgeable(req: Mapping[str, Any], unjudgeable: list[str]) -> bool:
    if req["class"] not in SHAPES:
        unjudgeable.append(f"class {req['class']!r}: the world's shapes are {', '.join(SHAPES)}")
        return False
    if req.get("color") is not None and req["color"] not in COLORS:
        unjudgeable.append(f"colour {req['color']!r}: the world's are {', '.join(COLORS)}")
        return False
    return True


def _position(
    req: Mapping[str, Any], include: list[Mapping[str, Any]], judgeable: list[bool], unjudgeable: list[str]
) -> list[Clause]:
    word, other = req["position"][0], req["position"][1]
    if word not in _RELATIONS_BY_WORD or not isinstance(other, int) or not 0 <= other < len(include):
        raise ValueError(
            f"position {req['position']!r} must be [one of {sorted(_RELATIONS_BY_WORD)}, an include index]"
        )
    if not judgeable[other]:
        unjudgeable.append(f"position {word!r} of {req['class']!r}: relative to an object the world cannot judge")
        return []
    target = include[other]
    relation = _RELATIONS_BY_WORD[word]
    return [
        Clause(
            "relation",
            color=req.get("color"),
            shape=req["class"],
            relation=relation,
            other=(target.get("color"), target["class"]),
        )
    ]  # pyright: ignore[reportArgumentType]


def _merge_counts(clauses: list[Clause]) -> tuple[Clause, ...]:
    """GenEval's counting pairs `include count n` with `exclude count n + 1`: one exact count."""
    at_least = {(c.color, c.shape, c.count) for c in clauses if c.kind == "at_least"}
    exact = {(c.color, c.shape, (c.count or 0) - 1) for c in clauses if c.kind == "fewer_than"} & at_least
    merged = []
    for c in clauses:
        if c.kind == "at_least" and (c.color, c.shape, c.count) in exact:
            merged.append(Clause("count", color=c.color, shape=c.shape, count=c.count))
        elif not (c.kind == "fewer_than" and (c.color, c.shape, (c.count or 0) - 1) in exact):
            merged.append(c)
    return tuple(merged)
