"""Where things go on the 64 x 64 canvas: cell centres, object boxes, the sign's box.

Coordinates are pixel indices: x is the column (0 at the left), y the row (0 at the top).
A box (x0, y0, w, h) covers pixels x0 <= x < x0 + w and y0 <= y < y0 + h.
"""

from .palette import IMAGE_SIZE, SIZES

CELL = IMAGE_SIZE / 3  # 21.33 pixels per grid cell

SIGN_WIDTH = 44
SIGN_HEIGHT = 15
JITTER = 1  # object centres move by a uniform integer in [-JITTER, JITTER] on each axis


def cell_centre(index: int) -> float:
    """Centre of grid row or column `index` along one axis: index * 64/3 + 32/3."""
    return index * CELL + CELL / 2


def object_centre(index: int, jitter: int) -> int:
    """The record's x (from col) or y (from row): the cell centre moved by jitter, rounded.

    Cell centres are k + 1/3, k + 2/3 or whole, so rounding never meets a tie.
    """
    return int(round(cell_centre(index) + jitter))


def object_box(x: int, y: int, size: str) -> tuple[int, int, int, int]:
    """Box of an object centred on the record's (x, y): x0 = x - s // 2, so a 16-pixel box
    spans x - 8 .. x + 7 and a 10-pixel box x - 5 .. x + 4."""
    s = SIZES[size]
    return x - s // 2, y - s // 2, s, s


def sign_box(row: int) -> tuple[int, int, int, int]:
    """The 44 x 15 sign's box, centred in its row: x0 = 32 - 22 = 10 (x 10..53) and
    y0 = round(row centre) - 7, so y 4..18 in the top row and y 46..60 in the bottom row."""
    cx = int(round(cell_centre(1)))
    cy = int(round(cell_centre(row)))
    return cx - SIGN_WIDTH // 2, cy - SIGN_HEIGHT // 2, SIGN_WIDTH, SIGN_HEIGHT


def cell_of(coordinate: float) -> int:
    """Grid row or column holding a point at `coordinate` (pixel-centre units), clipped to 0..2."""
    return min(2, max(0, int(coordinate // CELL)))
