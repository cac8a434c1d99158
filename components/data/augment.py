"""Augmentations that keep a caption true of its image, for the shapes world.

A captioner fine-tuned on a few hundred curated captions memorises them; these
transforms multiply the curated set without writing a single false statement. They read
only the pixels and the caption text, never the scene record:

- colour permutation: every pixel of object colour i becomes colour pi(i), and every
  colour word i in the captions becomes pi(i). Exact palette pixels only (the world
  renders without anti-aliasing); backgrounds and the sign are not palette colours.
- horizontal flip: the image is mirrored and "left"/"right" swap in the captions. Every
  shape of the world is left-right symmetric and the cells mirror onto cells; a sign's
  letters would mirror too, so an image with sign-white pixels or a caption quoting a
  word is never flipped. "Right" as an adverb ("right in the middle") is not a side.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from components.world.palette import COLORS, SIGN_WHITE

COLOR_NAMES = tuple(COLORS)
PALETTE = np.array([COLORS[name] for name in COLOR_NAMES], dtype=np.uint8)  # (8, 3)
COLOR_PATTERN = re.compile(r"\b(" + "|".join(COLOR_NAMES) + r")\b", re.IGNORECASE)
# "right in the middle" is the adverb, not a side: it stays.
SIDE_PATTERN = re.compile(r"\b(left|right)\b(?!\s+(?:in|at)\s+the\s+(?:middle|center|centre)\b)", re.IGNORECASE)
QUOTED_WORD = re.compile(r"['\"‘“][A-Z]{2,}['\"’”]")


def _same_case(template: str, word: str) -> str:
    return word.capitalize() if template[:1].isupper() else word


def _replace_words(pattern: re.Pattern[str], mapping: dict[str, str], text: str) -> str:
    return pattern.sub(lambda m: _same_case(m.group(0), mapping[m.group(0).lower()]), text)


def _rgb_codes(pixels: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 -> (...) int32, one integer per colour."""
    p = pixels.astype(np.int32)
    return (p[..., 0] << 16) | (p[..., 1] << 8) | p[..., 2]


PALETTE_CODES = _rgb_codes(PALETTE)  # (8,)
CODE_ORDER = np.argsort(PALETTE_CODES)
SORTED_CODES = PALETTE_CODES[CODE_ORDER]  # what searchsorted looks each pixel up in


def palette_index(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) int: which of the 8 object colours each pixel is exactly, -1 for none."""
    codes = _rgb_codes(image)
    position = np.searchsorted(SORTED_CODES, codes).clip(max=len(SORTED_CODES) - 1)
    return np.where(SORTED_CODES[position] == codes, CODE_ORDER[position], -1)


def permute_colors(
    image: np.ndarray, captions: Sequence[str], permutation: Sequence[int]
) -> tuple[np.ndarray, list[str]]:
    """Recolours `image` (H, W, 3) uint8 and its captions by `permutation` of the 8 colours."""
    if sorted(permutation) != list(range(len(COLOR_NAMES))):
        raise ValueError(f"not a permutation of {len(COLOR_NAMES)} colours: {list(permutation)}")
    out = image.copy()
    index = palette_index(image)  # (H, W): one lookup for all 8 colours, not 8 masks
    objects = index >= 0
    out[objects] = PALETTE[np.asarray(permutation)[index[objects]]]
    return out, recolor_captions(captions, permutation)


def recolor_captions(captions: Sequence[str], permutation: Sequence[int]) -> list[str]:
    """Every colour word i of the captions becomes colour permutation[i]: the text side of
    permute_colors, for captions without their image (a pair of captions stays one scene's)."""
    mapping = {COLOR_NAMES[s]: COLOR_NAMES[t] for s, t in enumerate(permutation)}
    return [_replace_words(COLOR_PATTERN, mapping, text) for text in captions]


def swap_sides(captions: Sequence[str]) -> list[str]:
    """ "left" and "right" swapped: the text side of flip_horizontal (a quoted sign word is text,
    not pixels, so captions alone may always be swapped)."""
    mapping = {"left": "right", "right": "left"}
    return [_replace_words(SIDE_PATTERN, mapping, text) for text in captions]


def can_flip(image: np.ndarray, captions: Sequence[str]) -> bool:
    """False where a sign may be present: its mirrored word would be a false statement."""
    has_sign_pixels = bool((image == np.array(SIGN_WHITE, dtype=np.uint8)).all(axis=-1).any())
    return not has_sign_pixels and not any(QUOTED_WORD.search(text) for text in captions)


def flip_horizontal(image: np.ndarray, captions: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Mirrors `image` left-right and swaps "left" and "right" in the captions."""
    if not can_flip(image, captions):
        raise ValueError("image holds a sign (or a caption quotes a word): flipping would mirror its text")
    return image[:, ::-1].copy(), swap_sides(captions)


def augment(
    image: np.ndarray, captions: Sequence[str], rng: np.random.Generator, *, flip_prob: float = 0.5
) -> tuple[np.ndarray, list[str]]:
    """A random colour permutation, then a flip with `flip_prob` where flipping is safe."""
    image, texts = permute_colors(image, captions, rng.permutation(len(COLOR_NAMES)).tolist())
    if rng.random() < flip_prob and can_flip(image, texts):
        image, texts = flip_horizontal(image, texts)
    return image, texts
