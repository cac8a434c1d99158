"""Judging an image: recover a Scene from any 64 x 64 RGB image, as a detector would.

1. Each pixel goes to the nearest colour of the palette (eight object colours, three
   backgrounds, sign white, ink), Euclidean in RGB, or to `unknown` when even the nearest
   is farther than config.unknown_distance.
2. Sign: a rectangle whose 1-pixel ring is mostly dark (ink or black) and whose interior
   is mostly bright (sign white or the white background). The contract's 44 x 15 frame is
   tried at every position first, then other frames from 36 x 11 to 52 x 19. Its word is
   the vocabulary word whose rendered ink best matches the interior's dark pixels (IoU,
   over shifts of up to 2 columns and 1 row); below config.sign_word_min_score the word
   is unread and no sign is reported.
3. Background: the majority over pixels outside the sign, sign white counting as white
   and ink as black.
4. Objects: 4-connected components of one object colour with at least
   config.min_component_pixels pixels. Shape: the best IoU between the component's mask,
   centred in a square box of its longer side, and each shape rasterised into that box;
   below config.min_shape_iou the component is rejected as no shape. Size: `large` when the box is
   larger than config.large_threshold on either side. Cell: from the centroid. (x, y): the
   box's x0 + w // 2, y0 + h // 2, the inverse of the renderer's box rule.
Every detection and rejection is explained in ParsedScene.notes.
"""

from dataclasses import dataclass, field

import numpy as np

from .config import WorldConfig
from .geometry import SIGN_HEIGHT, SIGN_WIDTH, cell_of
from .palette import BACKGROUNDS, COLORS, IMAGE_SIZE, INK, SHAPES, SIGN_WHITE, VOCABULARY, cell_name
from .render import sign_ink
from .scene import Scene, Sign, WorldObject
from .shapes import shape_mask

# Label of each palette entry: object colours 0..7, then backgrounds, sign white, ink.
_OBJECT_NAMES = tuple(COLORS)
_LABEL_NAMES = _OBJECT_NAMES + tuple(f"{b} background" for b in BACKGROUNDS) + ("sign white", "ink")
_LABEL_RGB = np.array(list(COLORS.values()) + list(BACKGROUNDS.values()) + [SIGN_WHITE, INK], dtype=np.float32)
_N_OBJECT = len(_OBJECT_NAMES)
_WHITE_BG, _GRAY_BG, _BLACK_BG = (_N_OBJECT + i for i in range(3))
_SIGN_WHITE, _INK = _N_OBJECT + 3, _N_OBJECT + 4
UNKNOWN = -1

_SIGN_RING_MIN_DARK = 0.75
_SIGN_INTERIOR_MIN_BRIGHT = 0.6
_SIGN_FALLBACK_SIZES = [(w, h) for h in range(11, 20) for w in range(36, 53) if (w, h) != (SIGN_WIDTH, SIGN_HEIGHT)]


@dataclass(frozen=True)
class ParsedScene:
    scene: Scene
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SceneMatch:
    """exact: every object, the sign and the background match. reasons: one line each,
    prefixed `ok:`, `missing:`, `extra:` or `wrong:`."""

    exact: bool
    reasons: list[str] = field(default_factory=list)


def classify_pixels(image: np.ndarray, unknown_distance: float) -> np.ndarray:
    """(64, 64) int labels: index into the palette (see _LABEL_NAMES) or UNKNOWN (-1)."""
    pixels = image.reshape(-1, 3).astype(np.float32)  # (N, 3)
    # Squared distances |p - c|^2 = |p|^2 - 2 p.c + |c|^2, exact in float32 for 0..255 values.
    squared = (pixels**2).sum(1, keepdims=True) - 2 * pixels @ _LABEL_RGB.T + (_LABEL_RGB**2).sum(1)  # (N, 13)
    labels = squared.argmin(1)
    labels[squared.min(1) > unknown_distance**2] = UNKNOWN
    return labels.reshape(image.shape[:2])


def parse_image(image: np.ndarray, config: WorldConfig | None = None) -> ParsedScene:
    config = config or WorldConfig()
    _check_image(image)
    notes: list[str] = []
    labels = classify_pixels(image, config.unknown_distance)
    n_unknown = int((labels == UNKNOWN).sum())
    notes.append(
        f"pixels: {n_unknown} of {labels.size} unknown ({100 * n_unknown / labels.size:.1f}%, "
        f"farther than {config.unknown_distance:g} from every palette colour)"
    )

    sign, sign_box = _find_sign(labels, config, notes)
    background = _vote_background(image, labels, sign_box, notes)
    objects = _find_objects(labels, config, sign_box, notes)
    objects.sort(key=lambda o: (o.row, o.col, o.y, o.x))
    scene = Scene(background=background, objects=tuple(objects), sign=sign)
    return ParsedScene(scene=scene, notes=notes)


def _find_sign(
    labels: np.ndarray, config: WorldConfig, notes: list[str]
) -> tuple[Sign | None, tuple[int, int, int, int] | None]:
    bright = np.isin(labels, (_WHITE_BG, _SIGN_WHITE))
    dark = np.isin(labels, (_BLACK_BG, _INK))
    best = _best_frame(bright, dark, [(SIGN_WIDTH, SIGN_HEIGHT)])
    # Other frame sizes only when the image holds enough bright and dark pixels for the
    # smallest one (most images without a sign fail this and skip the search).
    w, h = _SIGN_FALLBACK_SIZES[0]
    enough = bright.sum() >= _SIGN_INTERIOR_MIN_BRIGHT * (w - 2) * (h - 2) and dark.sum() >= _SIGN_RING_MIN_DARK * (
        2 * (w + h) - 4
    )
    if best is None and enough:
        best = _best_frame(bright, dark, _SIGN_FALLBACK_SIZES)
    if best is None:
        notes.append(
            f"sign: none (no frame with ring >= {_SIGN_RING_MIN_DARK:.0%} dark and "
            f"interior >= {_SIGN_INTERIOR_MIN_BRIGHT:.0%} bright)"
        )
        return None, None
    x0, y0, w, h, ring, interior = best
    row = cell_of(y0 + h / 2)
    box = (x0, y0, w, h)
    where = (
        f"box x={x0}..{x0 + w - 1} y={y0}..{y0 + h - 1} ({w} x {h}), "
        f"ring {ring:.0%} dark, interior {interior:.0%} bright, row {row}"
    )
    word, score, runner_up = _read_word(dark[y0 + 1 : y0 + h - 1, x0 + 1 : x0 + w - 1])
    reading = f"best word {word!r} ink IoU {score:.2f}, next {runner_up[0]!r} {runner_up[1]:.2f}"
    if score < config.sign_word_min_score:
        notes.append(f"sign: rejected, word unread ({reading} < {config.sign_word_min_score:g}); {where}")
        return None, box
    notes.append(f"sign: {word!r} ({reading}); {where}")
    return Sign(text=word, row=row), box


def _best_frame(
    bright: np.ndarray, dark: np.ndarray, sizes: list[tuple[int, int]]
) -> tuple[int, int, int, int, float, float] | None:
    """Best (x0, y0, w, h, ring dark share, interior bright share) over frames passing both
    thresholds, ranked by the sum of the two shares; None if none passes."""
    sum_bright, sum_dark = _integral(bright), _integral(dark)
    best = None
    size = bright.shape[0]
    for w, h in sizes:
        outer_dark = _box_sums(sum_dark, w, h)  # (size - h + 1, size - w + 1), indexed [y0, x0]
        inner_dark = _box_sums(sum_dark, w - 2, h - 2)[1 : size - h + 2, 1 : size - w + 2]
        inner_bright = _box_sums(sum_bright, w - 2, h - 2)[1 : size - h + 2, 1 : size - w + 2]
        ring = (outer_dark - inner_dark) / (2 * (w + h) - 4)
        interior = inner_bright / ((w - 2) * (h - 2))
        passing = (ring >= _SIGN_RING_MIN_DARK) & (interior >= _SIGN_INTERIOR_MIN_BRIGHT)
        score = np.where(passing, ring + interior, -1.0)
        y0, x0 = np.unravel_index(int(score.argmax()), score.shape)
        if score[y0, x0] > 0 and (best is None or score[y0, x0] > best[0]):
            best = (float(score[y0, x0]), int(x0), int(y0), w, h, float(ring[y0, x0]), float(interior[y0, x0]))
    return None if best is None else best[1:]


def _integral(mask: np.ndarray) -> np.ndarray:
    """(H + 1, W + 1) summed-area table with a zero first row and column."""
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int32)
    table[1:, 1:] = mask.cumsum(0).cumsum(1)
    return table


def _box_sums(table: np.ndarray, w: int, h: int) -> np.ndarray:
    """Sum over every w x h box, indexed by its top-left corner [y0, x0]."""
    return table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]


def _word_templates() -> dict[str, np.ndarray]:
    return {word: sign_ink(word)[1:-1, 1:-1] for word in VOCABULARY}  # (13, 42) each


_TEMPLATES = _word_templates()


def _read_word(interior_ink: np.ndarray) -> tuple[str, float, tuple[str, float]]:
    """Best vocabulary word for a sign interior's ink mask, its IoU, and the runner-up."""
    th, tw = SIGN_HEIGHT - 2, SIGN_WIDTH - 2
    if interior_ink.shape != (th, tw):  # nearest-neighbour resample to the template size
        ys = (np.arange(th) * interior_ink.shape[0] // th)[:, None]
        xs = (np.arange(tw) * interior_ink.shape[1] // tw)[None, :]
        interior_ink = interior_ink[ys, xs]
    scores = {}
    for word, template in _TEMPLATES.items():
        best = 0.0
        for dy in (-1, 0, 1):
            for dx in (-2, -1, 0, 1, 2):
                shifted = _shift(template, dy, dx)
                union = (shifted | interior_ink).sum()
                if union:
                    best = max(best, float((shifted & interior_ink).sum() / union))
        scores[word] = best
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    return ranked[0][0], ranked[0][1], ranked[1]


def _shift(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def _vote_background(
    image: np.ndarray, labels: np.ndarray, sign_box: tuple[int, int, int, int] | None, notes: list[str]
) -> str:
    outside = np.ones(labels.shape, dtype=bool)
    if sign_box is not None:
        x0, y0, w, h = sign_box
        outside[y0 : y0 + h, x0 : x0 + w] = False
    voters = labels[outside]
    votes = {
        "white": int(np.isin(voters, (_WHITE_BG, _SIGN_WHITE)).sum()),
        "gray": int((voters == _GRAY_BG).sum()),
        "black": int(np.isin(voters, (_BLACK_BG, _INK)).sum()),
    }
    tally = ", ".join(f"{k} {v}" for k, v in votes.items())
    if sum(votes.values()) == 0:
        mean = image.reshape(-1, 3).astype(np.float32).mean(0)
        name = min(BACKGROUNDS, key=lambda b: float(np.linalg.norm(mean - np.array(BACKGROUNDS[b]))))
        rgb = mean.round().astype(int).tolist()
        notes.append(f"background: {name} (no background-coloured pixel; nearest to the mean colour {rgb})")
        return name
    name = max(votes, key=lambda k: votes[k])  # ties go to the first in white, gray, black
    notes.append(f"background: {name} (pixel votes outside the sign: {tally})")
    return name


def _find_objects(
    labels: np.ndarray, config: WorldConfig, sign_box: tuple[int, int, int, int] | None, notes: list[str]
) -> list[WorldObject]:
    objects = []
    for label, ys, xs in _components(labels):
        color = _OBJECT_NAMES[label]
        n = len(ys)
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
        w, h = x1 - x0 + 1, y1 - y0 + 1
        where = f"{color} component of {n} px, box x={x0}..{x1} y={y0}..{y1} ({w} x {h})"
        if n < config.min_component_pixels:
            notes.append(f"object: rejected {where}: fewer than {config.min_component_pixels} px")
            continue
        # The mask centred in a square box of the longer side: world shapes fill square
        # boxes, so a stretched component scores lower against every template.
        side = max(w, h)
        mask = np.zeros((side, side), dtype=bool)
        mask[ys - y0 + (side - h) // 2, xs - x0 + (side - w) // 2] = True
        ious = {}
        for shape in SHAPES:
            template = shape_mask(shape, side, side)
            ious[shape] = float((template & mask).sum() / (template | mask).sum())
        shape = max(SHAPES, key=lambda s: ious[s])
        scores = ", ".join(f"{s} {v:.2f}" for s, v in sorted(ious.items(), key=lambda kv: -kv[1]))
        if ious[shape] < config.min_shape_iou:
            notes.append(f"object: rejected {where}: no shape fits (IoU {scores} < {config.min_shape_iou:g})")
            continue
        size = "large" if max(w, h) > config.large_threshold else "small"
        cx, cy = float(xs.mean()) + 0.5, float(ys.mean()) + 0.5  # pixel i covers [i, i + 1)
        row, col = cell_of(cy), cell_of(cx)
        extra = ""
        if sign_box is not None and _overlaps((x0, y0, w, h), sign_box):
            extra = "; overlaps the sign"
        notes.append(
            f"object: {size} {color} {shape} at {cell_name(row, col)} (row {row}, col {col}) from {where}, "
            f"centroid ({cx:.1f}, {cy:.1f}); shape IoU {scores}; "
            f"{size} as {max(w, h)} {'>' if size == 'large' else '<='} {config.large_threshold}{extra}"
        )
        objects.append(WorldObject(shape=shape, color=color, size=size, row=row, col=col, x=x0 + w // 2, y=y0 + h // 2))
    return objects


def _components(labels: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """4-connected components of equal object-colour labels: (label, ys, xs) each, in
    order of their first pixel (row-major). An iterative flood fill over flat indices."""
    h, w = labels.shape
    flat = labels.ravel().tolist()
    seen = [False] * (h * w)
    found = []
    for start in np.flatnonzero((labels >= 0) & (labels < _N_OBJECT)).tolist():
        if seen[start]:
            continue
        label = flat[start]
        seen[start] = True
        stack, members = [start], []
        while stack:
            p = stack.pop()
            members.append(p)
            x = p % w
            for q, ok in ((p - 1, x > 0), (p + 1, x < w - 1), (p - w, p >= w), (p + w, p < h * w - w)):
                if ok and not seen[q] and flat[q] == label:
                    seen[q] = True
                    stack.append(q)
        idx = np.array(members)
        found.append((label, idx // w, idx % w))
    return found


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _describe(o: WorldObject) -> str:
    return f"{o.size} {o.color} {o.shape} at {cell_name(o.row, o.col)}"


def compare_scenes(parsed: Scene, truth: Scene) -> SceneMatch:
    """Compare a parsed scene with the truth: objects by cell (row, col), then shape,
    colour and size; the background; the sign's word and row."""
    reasons: list[str] = []
    if parsed.background == truth.background:
        reasons.append(f"ok: background {truth.background}")
    else:
        reasons.append(f"wrong: background is {parsed.background}, expected {truth.background}")

    if parsed.sign is None:
        if truth.sign is None:
            reasons.append("ok: no sign")
        else:
            reasons.append(f"missing: sign {truth.sign.text!r} in row {truth.sign.row}")
    elif truth.sign is None:
        reasons.append(f"extra: sign {parsed.sign.text!r} in row {parsed.sign.row}")
    elif parsed.sign == truth.sign:
        reasons.append(f"ok: sign {truth.sign.text!r} in row {truth.sign.row}")
    else:
        reasons.append(
            f"wrong: sign {parsed.sign.text!r} in row {parsed.sign.row}, "
            f"expected {truth.sign.text!r} in row {truth.sign.row}"
        )

    unmatched = list(parsed.objects)
    for t in truth.objects:
        in_cell = [p for p in unmatched if (p.row, p.col) == (t.row, t.col)]
        if not in_cell:
            reasons.append(f"missing: {_describe(t)}")
            continue
        p = max(in_cell, key=lambda p: (p.shape == t.shape) + (p.color == t.color) + (p.size == t.size))
        unmatched.remove(p)
        diffs = [
            f"{attr} {getattr(p, attr)} instead of {getattr(t, attr)}"
            for attr in ("shape", "color", "size")
            if getattr(p, attr) != getattr(t, attr)
        ]
        if diffs:
            reasons.append(f"wrong: {_describe(t)}: found {', '.join(diffs)}")
        else:
            reasons.append(f"ok: {_describe(t)}")
    for p in unmatched:
        reasons.append(f"extra: {_describe(p)}")
    return SceneMatch(exact=all(r.startswith("ok:") for r in reasons), reasons=reasons)


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(
            f"parse_image expects a ({IMAGE_SIZE}, {IMAGE_SIZE}, 3) uint8 image, got shape {shape} dtype {dtype}"
        )
