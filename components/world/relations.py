"""Spatial relations between two objects, decided by their grid cells alone (WORLD.md).

A is `to the left of` B when A's column is smaller, `to the right of` when larger,
`above` when A's row is smaller, `below` when larger. Objects in the same row are neither
above nor below each other; in the same column neither left nor right.
"""

from typing import Protocol

LEFT = "to the left of"
RIGHT = "to the right of"
ABOVE = "above"
BELOW = "below"
RELATIONS: tuple[str, ...] = (LEFT, RIGHT, ABOVE, BELOW)
INVERSE: dict[str, str] = {LEFT: RIGHT, RIGHT: LEFT, ABOVE: BELOW, BELOW: ABOVE}


class Placed(Protocol):
    @property
    def row(self) -> int: ...

    @property
    def col(self) -> int: ...


def horizontal_relation(a: Placed, b: Placed) -> str | None:
    """LEFT or RIGHT of A relative to B, or None in the same column."""
    if a.col < b.col:
        return LEFT
    if a.col > b.col:
        return RIGHT
    return None


def vertical_relation(a: Placed, b: Placed) -> str | None:
    """ABOVE or BELOW of A relative to B, or None in the same row."""
    if a.row < b.row:
        return ABOVE
    if a.row > b.row:
        return BELOW
    return None


def relations(a: Placed, b: Placed) -> tuple[str, ...]:
    """Every relation that holds of A relative to B (zero, one or two of them)."""
    return tuple(r for r in (horizontal_relation(a, b), vertical_relation(a, b)) if r is not None)


def relation_holds(a: Placed, relation: str, b: Placed) -> bool:
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation {relation!r}; relations are {', '.join(RELATIONS)}")
    return relation in relations(a, b)
