"""Previews of a dataset for people: a PNG grid of samples with their captions."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

TILE_SCALE = 2  # 64 px images shown at 128 px, nearest-neighbour so pixels stay crisp
CAPTION_LINES = 6
LINE_HEIGHT = 11
CHARS_PER_LINE = 24


def sample_grid(images: Sequence[np.ndarray], captions: Sequence[str], *, columns: int = 4) -> Image.Image:
    """Tiles `images` (each (H, W, 3) uint8) in `columns`, each above its wrapped caption."""
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    if not images:
        raise ValueError("sample_grid needs at least one image")
    height, width = images[0].shape[:2]
    tile_w = max(width * TILE_SCALE, CHARS_PER_LINE * 6 + 8)
    tile_h = height * TILE_SCALE + CAPTION_LINES * LINE_HEIGHT + 8
    rows = -(-len(images) // columns)
    grid = Image.new("RGB", (columns * tile_w, rows * tile_h), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=10)
    for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
        x, y = (i % columns) * tile_w, (i // columns) * tile_h
        tile = Image.fromarray(image).resize((width * TILE_SCALE, height * TILE_SCALE), Image.Resampling.NEAREST)
        grid.paste(tile, (x + (tile_w - tile.width) // 2, y + 2))
        lines = textwrap.wrap(caption, CHARS_PER_LINE)
        if len(lines) > CAPTION_LINES:
            lines = lines[: CAPTION_LINES - 1] + [lines[CAPTION_LINES - 1][: CHARS_PER_LINE - 3] + "..."]
        for j, line in enumerate(lines):
            draw.text((x + 4, y + height * TILE_SCALE + 4 + j * LINE_HEIGHT), line, fill=(0, 0, 0), font=font)
    return grid


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
