"""Encoded image bytes to a model's input: any mode, any size, refused above a pixel cap
before the pixels are decoded. What recaptioning and the captioner's curated set both read."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

DEFAULT_MAX_PIXELS = 50_000_000  # larger images are refused before their pixels are decoded


class TooManyPixels(ValueError):
    """An image whose header gives more pixels than the cap: refused without decoding it."""


def decode_image(
    data: bytes, size: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, tuple[int, int] | None, str | None]:
    """Encoded bytes -> (size, size, 3) uint8 RGB, the original (width, height) if it was
    resized and the original mode if it was converted.

    Any mode (L, P, RGBA, CMYK, 16-bit) is converted to RGB (alpha dropped); an image of
    another size is resized with a bicubic filter, ignoring aspect ratio, as img2dataset's
    `resize_mode=no` outputs can be any size. An image whose header gives more than
    `max_pixels` pixels raises TooManyPixels before its pixels are decoded (a small PNG can
    claim 13000 x 13000 and cost a gigabyte); other undecodable bytes raise PIL's errors.
    """
    with warnings.catch_warnings():  # the cap below is the check; PIL's own bomb warning repeats it
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise TooManyPixels(f"{width}x{height} exceeds max_pixels={max_pixels}")
            image.load()
            converted_from = None if image.mode == "RGB" else image.mode
            rgb = image.convert("RGB")
    resized_from = None
    if rgb.size != (size, size):
        resized_from = rgb.size
        rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(rgb, dtype=np.uint8), resized_from, converted_from
