"""A 5 x 7 bitmap font of capitals, enough for the sign vocabulary.

A word is its glyphs side by side with LETTER_GAP blank columns between them, so a
4-letter word is 4 * 5 + 3 * 2 = 26 x 7 pixels: inside the sign's 42 x 13 interior it
leaves 8 blank columns on each side and 3 blank rows above and below.
"""

import numpy as np

GLYPH_WIDTH = 5
GLYPH_HEIGHT = 7
LETTER_GAP = 2

_GLYPHS: dict[str, tuple[str, ...]] = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".###."),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
}

LETTERS: frozenset[str] = frozenset(_GLYPHS)


def glyph_mask(letter: str) -> np.ndarray:
    """(7, 5) bool mask of one capital, True where the ink goes."""
    if letter not in _GLYPHS:
        raise ValueError(f"the sign font has no glyph for {letter!r}; it has {''.join(sorted(_GLYPHS))}")
    return np.array([[ch == "#" for ch in line] for line in _GLYPHS[letter]], dtype=bool)


def word_width(word: str) -> int:
    return len(word) * GLYPH_WIDTH + max(0, len(word) - 1) * LETTER_GAP


def word_mask(word: str) -> np.ndarray:
    """(7, word_width(word)) bool mask of a word in capitals."""
    if not word:
        raise ValueError("cannot draw an empty word")
    mask = np.zeros((GLYPH_HEIGHT, word_width(word)), dtype=bool)
    for i, letter in enumerate(word):
        x0 = i * (GLYPH_WIDTH + LETTER_GAP)
        mask[:, x0 : x0 + GLYPH_WIDTH] = glyph_mask(letter)
    return mask
