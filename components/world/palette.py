"""The shapes world's fixed vocabulary: canvas size, colours, shapes, sizes, grid names, sign words.

Every value here is part of the contract in WORLD.md; nothing is configurable.
"""

RGB = tuple[int, int, int]

IMAGE_SIZE = 64

BACKGROUNDS: dict[str, RGB] = {
    "white": (245, 245, 245),
    "gray": (150, 150, 150),
    "black": (20, 20, 20),
}

# The eight object colours, in WORLD.md's order (sampling draws an index into this order).
COLORS: dict[str, RGB] = {
    "red": (220, 30, 30),
    "orange": (250, 140, 20),
    "yellow": (245, 220, 30),
    "green": (30, 160, 60),
    "blue": (30, 70, 220),
    "purple": (140, 50, 190),
    "pink": (245, 120, 190),
    "brown": (130, 80, 30),
}

SIGN_WHITE: RGB = (255, 255, 255)
INK: RGB = (0, 0, 0)

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")

# Side of the square box each size fills, in pixels.
SIZES: dict[str, int] = {"small": 10, "large": 16}

ROW_NAMES: tuple[str, ...] = ("top", "middle", "bottom")
COL_NAMES: tuple[str, ...] = ("left", "center", "right")

VOCABULARY: tuple[str, ...] = (
    "STOP",
    "OPEN",
    "SALE",
    "EXIT",
    "CAFE",
    "TAXI",
    "BANK",
    "SHOP",
    "FOOD",
    "PARK",
    "BOOK",
    "GAME",
)

# Prose names of the nine cells, WORLD.md: the middle row drops "middle", the center
# column drops "center" (so (0, 1) is "top" and (1, 1) is "center").
_CELL_NAMES: tuple[tuple[str, ...], ...] = (
    ("top left", "top", "top right"),
    ("left", "center", "right"),
    ("bottom left", "bottom", "bottom right"),
)


def cell_name(row: int, col: int) -> str:
    """Prose name of grid cell (row, col), e.g. (0, 0) -> "top left", (1, 1) -> "center"."""
    if row not in (0, 1, 2) or col not in (0, 1, 2):
        raise ValueError(f"cell (row={row!r}, col={col!r}) is outside the 3 x 3 grid")
    return _CELL_NAMES[row][col]
