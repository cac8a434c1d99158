"""Web alt-text: the one original caption of each web image, drawn from WORLD.md's mixture.

Kinds (shares from WorldConfig.alt_text_shares):
  filename     camera, phone and download file names ("IMG_2847.jpg", "PXL_20230512_104122345.jpg")
  shop         shop phrases with nothing about the image ("Buy now!")
  social       social-media phrases, often with emoji ("vibes 🔥")
  partly_true  1 to 4 words, every one true of the image ("red circle", "abstract shapes on gray")
  wrong        names an object colour or shape the image does not contain
"""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .config import ALT_TEXT_KINDS, WorldConfig
from .english import count_word, plural_of
from .palette import COLORS, SHAPES
from .scene import Scene

_SHOP = (
    "Buy now!",
    "Best price - free shipping",
    "New arrivals",
    "Shop the collection",
    "Limited offer",
    "SALE 50% off",
    "Free delivery on orders over $50",
    "Add to cart",
    "Top seller",
    "In stock now",
    "Order today, ships tomorrow",
    "Exclusive deal",
    "Gift ideas for everyone",
    "Bestseller - 5 stars",
    "Clearance",
    "Click to see more",
    "Hot deal of the day",
    "Wholesale prices",
    "Buy 2 get 1 free",
    "Product image 1",
)
_SOCIAL = (
    "vibes 🔥",
    "mood",
    "so aesthetic ✨",
    "weekend energy",
    "love this 😍",
    "no filter",
    "current mood 💯",
    "obsessed 🙌",
    "tbt",
    "good vibes only ✌️",
    "aesthetic",
    "art day 🎨",
    "Monday mood",
    "just vibing",
    "this!! 👀",
    "lol",
    "new post ✨✨",
    "feeling creative",
    "caption this",
    "my fav 💕",
)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class AltText:
    text: str
    kind: str


def sample_alt_text(scene: Scene, rng: np.random.Generator, config: WorldConfig | None = None) -> AltText:
    """Draw the kind from config.alt_text_shares, then one text of that kind for `scene`."""
    config = config or WorldConfig()
    shares = np.array([config.alt_text_shares.get(k, 0.0) for k in ALT_TEXT_KINDS], dtype=np.float64)
    kind = ALT_TEXT_KINDS[int(rng.choice(len(ALT_TEXT_KINDS), p=shares / shares.sum()))]
    return AltText(text=_WRITERS[kind](scene, rng), kind=kind)


def _pick(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def _date(rng: np.random.Generator) -> tuple[int, int, int]:
    month = int(rng.integers(1, 13))
    return int(rng.integers(2012, 2025)), month, int(rng.integers(1, _MONTH_DAYS[month - 1] + 1))


def _filename(scene: Scene, rng: np.random.Generator) -> str:
    y, m, d = _date(rng)
    hh, mm, ss = int(rng.integers(24)), int(rng.integers(60)), int(rng.integers(60))
    n = int(rng.integers(10000))
    patterns = (
        lambda: f"IMG_{n:04d}.{_pick(rng, ('jpg', 'JPG', 'jpeg', 'HEIC', 'png'))}",
        lambda: f"DSC{int(rng.integers(100000)):05d}.JPG",
        lambda: f"DSC_{n:04d}.jpg",
        lambda: f"image ({int(rng.integers(1, 30))}).png",
        lambda: f"photo_{y}-{m:02d}-{d:02d}.jpeg",
        lambda: f"PXL_{y}{m:02d}{d:02d}_{hh:02d}{mm:02d}{ss:02d}{int(rng.integers(1000)):03d}.jpg",
        lambda: f"IMG-{y}{m:02d}{d:02d}-WA{int(rng.integers(10000)):04d}.jpg",
        lambda: f"Screenshot {y}-{m:02d}-{d:02d} at {hh:02d}.{mm:02d}.{ss:02d}.png",
        lambda: f"GOPR{n:04d}.JPG",
        lambda: f"P{int(rng.integers(1000000, 10000000))}.JPG",
        lambda: f"download ({int(rng.integers(1, 20))}).jpg",
        lambda: f"{int(rng.integers(16**8)):08x}.webp",
        lambda: f"untitled-{int(rng.integers(1, 100))}.png",
        lambda: f"{y}{m:02d}{d:02d}_{hh:02d}{mm:02d}{ss:02d}.jpg",
    )
    return _pick(rng, patterns)()


def _shop(scene: Scene, rng: np.random.Generator) -> str:
    return _pick(rng, _SHOP)


def _social(scene: Scene, rng: np.random.Generator) -> str:
    return _pick(rng, _SOCIAL)


def _partly_true(scene: Scene, rng: np.random.Generator) -> str:
    """1 to 4 words, each statement true: named colours, shapes, pairs, counts, sizes,
    the background and the sign word all occur in the scene."""
    objects = scene.objects
    if not objects:
        return _pick(rng, ("abstract art", f"{scene.background} background", "minimal design"))
    o = _pick(rng, objects)
    pairs = Counter((x.color, x.shape) for x in objects)
    bg = scene.background
    many = len(objects) >= 2
    candidates: list[Callable[[], str]] = [
        lambda: f"{o.color} {o.shape}",
        lambda: o.color,
        lambda: o.shape,
        lambda: f"{o.size} {o.color} {o.shape}",
        lambda: f"{o.color} {o.shape} on {bg}",
        lambda: f"{bg} background",
        lambda: "geometric art",
        lambda: "abstract art",
        lambda: _pick(rng, ("minimal design", "flat design", "geometric", "abstract")),
    ]
    if pairs[(o.color, o.shape)] >= 2:
        count = pairs[(o.color, o.shape)]
        candidates.append(lambda: f"{o.color} {plural_of(o.shape)}")
        candidates.append(lambda: f"{count_word(count)} {o.color} {plural_of(o.shape)}")
    if many:
        candidates.append(lambda: "shapes")
        candidates.append(lambda: f"abstract shapes on {bg}")
        candidates.append(lambda: _pick(rng, ("geometric shapes", "simple shapes", "colorful shapes")))
        other = _pick(rng, [x for x in objects if x is not o])
        if other.color != o.color:
            candidates.append(lambda: f"{o.color} and {other.color}")
        if other.shape != o.shape:
            candidates.append(lambda: f"{o.shape} and {other.shape}")
    if scene.sign is not None:
        word = scene.sign.text
        candidates.append(lambda: f"{word} sign")
        candidates.append(lambda: _pick(rng, (f"sign saying {word}", f"'{word}' sign", "sign")))
    return _pick(rng, candidates)()


def _wrong(scene: Scene, rng: np.random.Generator) -> str:
    """Names an object colour or shape absent from the image (a scene never holds all
    eight colours, so an absent colour always exists)."""
    present_colors = {o.color for o in scene.objects}
    present_shapes = {o.shape for o in scene.objects}
    color = _pick(rng, [c for c in COLORS if c not in present_colors])
    shape = _pick(rng, SHAPES)
    absent_shapes = [s for s in SHAPES if s not in present_shapes]
    candidates: list[Callable[[], str]] = [
        lambda: f"{color} {shape}",
        lambda: f"{color} {plural_of(shape)}",
        lambda: color,
        lambda: f"{color} shapes",
        lambda: f"{color} {shape} on {_pick(rng, ('white', 'gray', 'black'))}",
        lambda: f"big {color} {shape}",
    ]
    if absent_shapes:
        absent = _pick(rng, absent_shapes)
        candidates.append(lambda: absent)
        candidates.append(lambda: plural_of(absent))
        candidates.append(lambda: f"{_pick(rng, tuple(COLORS))} {absent}")
    return _pick(rng, candidates)()


_WRITERS: dict[str, Callable[[Scene, np.random.Generator], str]] = {
    "filename": _filename,
    "shop": _shop,
    "social": _social,
    "partly_true": _partly_true,
    "wrong": _wrong,
}
