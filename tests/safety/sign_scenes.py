"""World pictures with a sign, for the safety tests outside this folder too: what a generator
that draws a sign would hand back, read exactly by the scene parser."""

from __future__ import annotations

import numpy as np

from components.world import Scene, Sign, render


def sign_scene(word: str | None) -> np.ndarray:
    """A gray picture with a sign reading `word` on its bottom row (None: no sign): (64, 64, 3) uint8."""
    return render(Scene(background="gray", objects=(), sign=None if word is None else Sign(word, 2)))
