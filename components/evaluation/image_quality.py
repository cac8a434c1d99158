"""Image quality, exactly: a clean world picture re-renders to itself. The image is parsed
(world/parser.py), the parsed scene is rendered again (world/render.py), and the two are
compared pixel by pixel: the world's stand-in for "looks right", beside prompt following.

- `distance`: the mean absolute difference over every pixel and channel, in [0, 1] (0: the
  image is exactly a world picture of what it shows);
- `explained`: the share of pixels whose colour lies within the parser's own tolerance
  (WorldConfig.unknown_distance, Euclidean RGB) of the re-render's: the part of the image
  that the parsed scene accounts for.

The parser may place an object whose box runs past the canvas (a blot at an edge, which no world
picture has); the re-render moves it just inside, the nearest picture the world can draw.

A rendered scene scores distance 0 and explained 1; blur, noise, smudged edges and shapes the
parser cannot read raise the distance and lower the share. It reads no prompt: it says how
clean an image is, not whether it is the one asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from components.world import Scene
from components.world.config import WorldConfig
from components.world.palette import SIZES
from components.world.parser import parse_image
from components.world.render import render


@dataclass(frozen=True)
class ImageQuality:
    distance: float  # mean |image - re-render| / 255 over pixels and channels, in [0, 1]
    explained: float  # share of pixels within the parser's tolerance of the re-render, in [0, 1]


def on_canvas(scene: Scene, size: int) -> Scene:
    """`scene` with each object's centre moved (if need be) so that its box lies on the canvas."""
    moved = []
    for o in scene.objects:
        half, side = SIZES[o.size] // 2, SIZES[o.size]  # object_box: x0 = x - side // 2
        moved.append(replace(o, x=min(max(o.x, half), size - side + half), y=min(max(o.y, half), size - side + half)))
    return replace(scene, objects=tuple(moved))


def image_quality(image: np.ndarray, config: WorldConfig | None = None) -> ImageQuality:
    """The quality of one (64, 64, 3) uint8 image (the parser refuses any other)."""
    config = config or WorldConfig()
    rerendered = render(on_canvas(parse_image(image, config).scene, config.image_size), config).astype(np.float32)
    difference = image.astype(np.float32) - rerendered
    distance = float(np.abs(difference).mean() / 255.0)
    within = np.sqrt((difference**2).sum(axis=-1)) <= config.unknown_distance  # (H, W)
    return ImageQuality(distance=distance, explained=float(within.mean()))
