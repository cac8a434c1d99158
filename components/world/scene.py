"""Scenes: what an image holds (objects, sign, background), its JSON record, and sampling.

The JSON record is WORLD.md's `world_scene` form:
{"background": "gray",
 "objects": [{"shape": "circle", "color": "red", "size": "large", "row": 0, "col": 2, "x": 54, "y": 10}],
 "sign": {"text": "OPEN", "row": 2}}
with objects in row-major order and "sign": null where there is none.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import WorldConfig
from .geometry import JITTER, object_centre
from .palette import BACKGROUNDS, COLORS, IMAGE_SIZE, SHAPES, SIZES, VOCABULARY

_OBJECT_KEYS = ("shape", "color", "size", "row", "col", "x", "y")
_SIGN_KEYS = ("text", "row")
_SCENE_KEYS = ("background", "objects", "sign")


@dataclass(frozen=True)
class WorldObject:
    """One shape: its kind, its grid cell (row, col) and its box centre (x, y) in pixels."""

    shape: str
    color: str
    size: str
    row: int
    col: int
    x: int
    y: int

    def __post_init__(self) -> None:
        _check_choice("shape", self.shape, SHAPES)
        _check_choice("color", self.color, tuple(COLORS))
        _check_choice("size", self.size, tuple(SIZES))
        for name in ("row", "col"):
            _check_int(name, getattr(self, name), 0, 2)
        for name in ("x", "y"):
            _check_int(name, getattr(self, name), 0, IMAGE_SIZE - 1)
        for name in ("row", "col", "x", "y"):  # numpy integers become plain ints for JSON
            object.__setattr__(self, name, int(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _OBJECT_KEYS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "WorldObject":
        _check_keys("object", d, _OBJECT_KEYS)
        return cls(**{k: d[k] for k in _OBJECT_KEYS})


@dataclass(frozen=True)
class Sign:
    """A white sign filling grid row `row` (the sampler uses 0 or 2) that reads `text`."""

    text: str
    row: int

    def __post_init__(self) -> None:
        _check_choice("sign text", self.text, VOCABULARY)
        _check_int("sign row", self.row, 0, 2)
        object.__setattr__(self, "row", int(self.row))

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "row": self.row}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Sign":
        _check_keys("sign", d, _SIGN_KEYS)
        return cls(text=d["text"], row=d["row"])


@dataclass(frozen=True)
class Scene:
    """Background, objects in row-major order, and an optional sign.

    Layout rules of sampled scenes (distinct cells, no object in the sign's row) are not
    enforced here, because a scene parsed from a generated image may break them.
    """

    background: str
    objects: tuple[WorldObject, ...]
    sign: Sign | None

    def __post_init__(self) -> None:
        _check_choice("background", self.background, tuple(BACKGROUNDS))
        objects = tuple(self.objects)
        for o in objects:
            if not isinstance(o, WorldObject):
                raise ValueError(f"scene objects must be WorldObject, got {o!r}")
        cells = [(o.row, o.col) for o in objects]
        if cells != sorted(cells):
            raise ValueError(f"scene objects must be in row-major order, got cells {cells}")
        if self.sign is not None and not isinstance(self.sign, Sign):
            raise ValueError(f"scene sign must be a Sign or None, got {self.sign!r}")
        object.__setattr__(self, "objects", objects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "background": self.background,
            "objects": [o.to_dict() for o in self.objects],
            "sign": None if self.sign is None else self.sign.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Scene":
        _check_keys("scene", d, _SCENE_KEYS)
        sign = d["sign"]
        return cls(
            background=d["background"],
            objects=tuple(WorldObject.from_dict(o) for o in d["objects"]),
            sign=None if sign is None else Sign.from_dict(sign),
        )

    @classmethod
    def from_json(cls, text: str) -> "Scene":
        return cls.from_dict(json.loads(text))


def sample_scene(rng: np.random.Generator, config: WorldConfig | None = None) -> Scene:
    """Draw one scene from WORLD.md's distribution; deterministic given the generator state.

    Draw order: background, counting or ordinary, sign or not (then its row and word),
    object count, cells (distinct, uniform over those outside the sign's row), then per
    object in cell-draw order its colour, shape, size (once for a counting scene) and
    jitter (dx, dy).
    """
    config = config or WorldConfig()
    background = tuple(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    counting = bool(rng.random() < config.counting_share)
    sign = None
    if rng.random() < config.sign_share:
        row = (0, 2)[rng.integers(2)]
        sign = Sign(text=VOCABULARY[rng.integers(len(VOCABULARY))], row=row)

    free = [(r, c) for r in range(3) for c in range(3) if sign is None or r != sign.row]
    if counting:
        lo, hi = config.counting_range
        n = int(rng.integers(lo, hi + 1))
    else:
        n = int(rng.choice(len(config.object_count_probs), p=config.object_count_probs)) + 1
    if n > len(free):
        raise ValueError(f"cannot place {n} objects in {len(free)} free cells")
    cells = [free[i] for i in rng.choice(len(free), size=n, replace=False)]

    shared = _draw_kind(rng) if counting else None
    objects = []
    for row, col in cells:
        color, shape, size = shared if shared is not None else _draw_kind(rng)
        dx, dy = (int(v) for v in rng.integers(-JITTER, JITTER + 1, size=2))
        objects.append(
            WorldObject(
                shape=shape,
                color=color,
                size=size,
                row=row,
                col=col,
                x=object_centre(col, dx),
                y=object_centre(row, dy),
            )
        )
    objects.sort(key=lambda o: (o.row, o.col))
    return Scene(background=background, objects=tuple(objects), sign=sign)


def _draw_kind(rng: np.random.Generator) -> tuple[str, str, str]:
    color = tuple(COLORS)[rng.integers(len(COLORS))]
    shape = SHAPES[rng.integers(len(SHAPES))]
    size = tuple(SIZES)[rng.integers(len(SIZES))]
    return color, shape, size


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}")


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name}={value!r} must be an integer in [{lo}, {hi}]")


def _check_keys(what: str, d: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    if not isinstance(d, Mapping):
        raise ValueError(f"{what} record must be a JSON object, got {d!r}")
    missing = [k for k in keys if k not in d]
    extra = sorted(set(d) - set(keys))
    if missing or extra:
        raise ValueError(f"{what} record {dict(d)!r}: missing keys {missing}, unknown keys {extra}")
