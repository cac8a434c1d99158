"""WorldConfig: every configurable value of the shapes world (defaults are WORLD.md's)."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .palette import IMAGE_SIZE

# Alt-text kinds, in the order sampling draws them (WORLD.md's table).
ALT_TEXT_KINDS: tuple[str, ...] = ("filename", "shop", "social", "partly_true", "wrong")

# A sign fills a whole top or bottom row, leaving six cells for objects.
_CELLS_BESIDE_A_SIGN = 6
_CELLS = 9


def _default_alt_text_shares() -> dict[str, float]:
    return {"filename": 0.30, "shop": 0.15, "social": 0.15, "partly_true": 0.30, "wrong": 0.10}


@dataclass(frozen=True)
class WorldConfig:
    """Scene distribution, alt-text mixture and parser thresholds.

    unknown_distance: a pixel farther than this (Euclidean RGB) from every palette,
    background and sign colour is `unknown`. The default 60 is three quarters of the
    smallest gap between two object colours (orange-yellow, 80.8): a pixel within half a
    gap of its colour is always assigned, while mid-tones unlike any colour are not.
    min_shape_iou: the least IoU between a component and its best shape template for the
    component to count as an object (a rendered shape scores 1; the closest two templates,
    a circle inside a square, score 0.81 against each other).
    sign_word_min_score: the least ink IoU between a sign's interior and the best
    vocabulary word for the word to count as read; below it the sign is not reported.
    """

    image_size: int = IMAGE_SIZE
    counting_share: float = 0.20
    sign_share: float = 0.15
    # P(1 object), P(2 objects), ... for ordinary scenes.
    object_count_probs: tuple[float, ...] = (0.30, 0.35, 0.20, 0.15)
    # Inclusive range of copies in a counting scene.
    counting_range: tuple[int, int] = (2, 6)
    alt_text_shares: Mapping[str, float] = field(default_factory=_default_alt_text_shares)
    unknown_distance: float = 60.0
    min_component_pixels: int = 12
    # A component whose box is larger than this many pixels (either side) is `large`.
    large_threshold: int = 13
    sign_word_min_score: float = 0.5
    min_shape_iou: float = 0.6

    def __post_init__(self) -> None:
        # Copy mutable/sequence inputs so the frozen config owns plain, unaliased values.
        object.__setattr__(self, "object_count_probs", tuple(self.object_count_probs))
        object.__setattr__(self, "counting_range", tuple(self.counting_range))
        if not isinstance(self.alt_text_shares, Mapping):
            raise ValueError(f"alt_text_shares={self.alt_text_shares!r} must be a mapping kind -> share")
        object.__setattr__(self, "alt_text_shares", dict(self.alt_text_shares))
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first offending field and its value."""
        if _not_int(self.image_size) or self.image_size != IMAGE_SIZE:
            raise ValueError(f"image_size={self.image_size!r}: only {IMAGE_SIZE} is supported")
        for name in ("counting_share", "sign_share"):
            value = getattr(self, name)
            if _not_real(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r} must be a share in [0, 1]")

        probs = self.object_count_probs
        max_ordinary = _CELLS_BESIDE_A_SIGN if self.sign_share > 0 else _CELLS
        if not 1 <= len(probs) <= max_ordinary:
            raise ValueError(f"object_count_probs={probs!r} must give P(1..n objects) for 1 <= n <= {max_ordinary}")
        _check_shares("object_count_probs", probs, probs)

        lo_hi = self.counting_range
        max_copies = _CELLS_BESIDE_A_SIGN if self.sign_share > 0 else _CELLS
        if len(lo_hi) != 2 or any(_not_int(v) for v in lo_hi) or not 1 <= lo_hi[0] <= lo_hi[1] <= max_copies:
            raise ValueError(f"counting_range={lo_hi!r} must be (lo, hi) integers with 1 <= lo <= hi <= {max_copies}")

        shares = self.alt_text_shares
        for kind in shares:
            if kind not in ALT_TEXT_KINDS:
                raise ValueError(f"alt_text_shares has unknown kind {kind!r}; known kinds: {', '.join(ALT_TEXT_KINDS)}")
        _check_shares("alt_text_shares", tuple(shares.values()), shares)

        if _not_real(self.unknown_distance) or self.unknown_distance <= 0:
            raise ValueError(f"unknown_distance={self.unknown_distance!r} must be a positive distance")
        if _not_int(self.min_component_pixels) or self.min_component_pixels < 1:
            raise ValueError(f"min_component_pixels={self.min_component_pixels!r} must be an integer >= 1")
        # The threshold must separate the 10-pixel small box from the 16-pixel large one.
        if _not_int(self.large_threshold) or not 10 <= self.large_threshold <= 15:
            raise ValueError(f"large_threshold={self.large_threshold!r} must be an integer in [10, 15]")
        if _not_real(self.min_shape_iou) or not 0.0 <= self.min_shape_iou <= 1.0:
            raise ValueError(f"min_shape_iou={self.min_shape_iou!r} must be in [0, 1]")
        if _not_real(self.sign_word_min_score) or not 0.0 <= self.sign_word_min_score <= 1.0:
            raise ValueError(f"sign_word_min_score={self.sign_word_min_score!r} must be in [0, 1]")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "WorldConfig":
        """Build from a plain mapping (e.g. parsed YAML); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown WorldConfig keys: {', '.join(map(repr, unknown))}")
        return cls(**dict(d))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["object_count_probs"] = list(self.object_count_probs)
        d["counting_range"] = list(self.counting_range)
        d["alt_text_shares"] = dict(self.alt_text_shares)
        return d


def _not_int(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def _not_real(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, (int, float))


def _check_shares(name: str, values: tuple, shown: object) -> None:
    for v in values:
        if _not_real(v) or v < 0:
            raise ValueError(f"{name}={shown!r} holds {v!r}; shares must be non-negative numbers")
    total = float(sum(values))
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{name}={shown!r} sums to {total!r}, not 1")
