"""The shapes world: WORLD.md's procedural stand-in for web images, with known truth.

Scenes are sampled (scene.py), drawn (render.py), described by alt-text (alt_text.py) and
curated captions (captions.py), and judged back from pixels (parser.py) and text
(caption_facts.py).
"""

from .alt_text import AltText, sample_alt_text
from .caption_facts import CaptionFacts, ObjectMention, extract_facts
from .captions import SceneCaptions, describe_scene
from .config import ALT_TEXT_KINDS, WorldConfig
from .palette import (
    BACKGROUNDS,
    COL_NAMES,
    COLORS,
    IMAGE_SIZE,
    INK,
    ROW_NAMES,
    SHAPES,
    SIGN_WHITE,
    SIZES,
    VOCABULARY,
    cell_name,
)
from .parser import ParsedScene, SceneMatch, compare_scenes, parse_image
from .relations import ABOVE, BELOW, LEFT, RELATIONS, RIGHT, relation_holds, relations
from .render import decode_png, encode_png, render
from .scene import Scene, Sign, WorldObject, sample_scene
from .shapes import shape_mask

__all__ = [
    "ABOVE",
    "ALT_TEXT_KINDS",
    "BACKGROUNDS",
    "BELOW",
    "COL_NAMES",
    "COLORS",
    "IMAGE_SIZE",
    "INK",
    "LEFT",
    "RELATIONS",
    "RIGHT",
    "ROW_NAMES",
    "SHAPES",
    "SIGN_WHITE",
    "SIZES",
    "VOCABULARY",
    "AltText",
    "CaptionFacts",
    "SceneCaptions",
    "ObjectMention",
    "ParsedScene",
    "Scene",
    "SceneMatch",
    "Sign",
    "WorldConfig",
    "WorldObject",
    "cell_name",
    "compare_scenes",
    "decode_png",
    "encode_png",
    "extract_facts",
    "parse_image",
    "relation_holds",
    "relations",
    "render",
    "sample_alt_text",
    "sample_scene",
    "shape_mask",
    "describe_scene",
]
