"""Drawing a Scene into a 64 x 64 RGB image, and storing it losslessly as PNG.

Order: fill the background, paint each object's shape mask (shapes.shape_mask) into its
box (geometry.object_box, x0 = x - s // 2), then paint the sign. Colours are exact palette
values; there is no anti-aliasing, so every pixel holds one palette colour.
"""

import io

import numpy as np
from PIL import Image

from .config import WorldConfig
from .font import GLYPH_HEIGHT, word_mask, word_width
from .geometry import SIGN_HEIGHT, SIGN_WIDTH, object_box, sign_box
from .palette import BACKGROUNDS, COLORS, IMAGE_SIZE, INK, SIGN_WHITE
from .scene import Scene
from .shapes import shape_mask


def sign_ink(text: str) -> np.ndarray:
    """(15, 44) bool mask of a sign's ink: its 1-pixel border and the word.

    The word (font.word_mask, 26 x 7 for four letters) sits at column (44 - width) // 2 = 9
    and row (15 - 7) // 2 = 4 of the sign; every other pixel is white.
    """
    ink = np.zeros((SIGN_HEIGHT, SIGN_WIDTH), dtype=bool)
    ink[0, :] = ink[-1, :] = ink[:, 0] = ink[:, -1] = True
    word = word_mask(text)  # (7, W)
    w = word_width(text)
    if w > SIGN_WIDTH - 4:
        raise ValueError(f"sign word {text!r} is {w} pixels wide; at most {SIGN_WIDTH - 4} fit")
    x0, y0 = (SIGN_WIDTH - w) // 2, (SIGN_HEIGHT - GLYPH_HEIGHT) // 2
    ink[y0 : y0 + GLYPH_HEIGHT, x0 : x0 + w] = word
    return ink


def render(scene: Scene, config: WorldConfig | None = None) -> np.ndarray:
    """(64, 64, 3) uint8 image of `scene`."""
    size = (config or WorldConfig()).image_size
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = BACKGROUNDS[scene.background]
    for o in scene.objects:
        x0, y0, w, h = object_box(o.x, o.y, o.size)
        if x0 < 0 or y0 < 0 or x0 + w > size or y0 + h > size:
            raise ValueError(f"object {o} has box {(x0, y0, w, h)} outside the {size} x {size} canvas")
        region = image[y0 : y0 + h, x0 : x0 + w]  # (h, w, 3) view
        region[shape_mask(o.shape, h, w)] = COLORS[o.color]
    if scene.sign is not None:
        x0, y0, w, h = sign_box(scene.sign.row)
        region = image[y0 : y0 + h, x0 : x0 + w]
        ink = sign_ink(scene.sign.text)
        region[:] = SIGN_WHITE
        region[ink] = INK
    return image


def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of a (64, 64, 3) uint8 image; the same image gives the same bytes."""
    _check_image(image)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), mode="RGB").save(
        buffer, format="PNG", optimize=False, compress_level=6
    )
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 array of PNG (or any PIL-readable) bytes, converted to RGB."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"expected a ({IMAGE_SIZE}, {IMAGE_SIZE}, 3) uint8 image, got shape {shape} dtype {dtype}")
