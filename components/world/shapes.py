"""Rasterising the four shapes into a box, without anti-aliasing.

A mask is a bool array of shape (h, w), True where the shape covers the pixel. Pixel
(r, c) is judged by its centre (c + 0.5, r + 0.5) in box coordinates, except where noted.
Every shape touches all four sides of its box, so a shape's bounding box is its box.
The renderer uses square boxes (h == w == 10 or 16); the parser also asks for
rectangular ones, to fit a template to a component's own box.
"""

from functools import cache

import numpy as np

from .palette import SHAPES


def arm_width(side: int) -> int:
    """Arm width of a cross in a box of `side` pixels: side / 3 rounded to the nearest
    integer of the same parity as side, so the arm sits exactly in the middle
    (10 -> 4, 16 -> 6); a tie goes to the wider arm."""
    candidates = [k for k in range(1, side + 1) if k % 2 == side % 2]
    return min(candidates, key=lambda k: (abs(k - side / 3), -k))


@cache
def shape_mask(shape: str, height: int, width: int) -> np.ndarray:
    """(height, width) bool mask of `shape` filling its box.

    circle:   the inscribed ellipse, ((cx - w/2) / (w/2))^2 + ((cy - h/2) / (h/2))^2 <= 1
              at pixel centres.
    square:   every pixel.
    triangle: apex up, base along the bottom row; row r is filled where
              |cx - w/2| <= (r + 1) / h * w/2, i.e. judged at the row's lower edge, so the
              top row holds the 2-pixel apex (for even w) and the bottom row is full.
    cross:    an upright plus: a vertical bar arm_width(w) wide and a horizontal bar
              arm_width(h) tall, both centred and running the whole box.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; shapes are {', '.join(SHAPES)}")
    if height < 1 or width < 1:
        raise ValueError(f"shape box {height} x {width} must be at least 1 x 1")
    r = np.arange(height)[:, None]  # (h, 1)
    c = np.arange(width)[None, :]  # (1, w)
    cx, cy = c + 0.5, r + 0.5
    hw, hh = width / 2, height / 2
    if shape == "square":
        mask = np.ones((height, width), dtype=bool)
    elif shape == "circle":
        mask = ((cx - hw) / hw) ** 2 + ((cy - hh) / hh) ** 2 <= 1.0
    elif shape == "triangle":
        mask = np.abs(cx - hw) <= (r + 1) / height * hw
    else:
        aw, ah = arm_width(width), arm_width(height)
        x0, y0 = (width - aw) // 2, (height - ah) // 2
        vertical = (c >= x0) & (c < x0 + aw)
        horizontal = (r >= y0) & (r < y0 + ah)
        mask = vertical | horizontal
    mask = np.broadcast_to(mask, (height, width)).copy()
    mask.setflags(write=False)
    return mask
