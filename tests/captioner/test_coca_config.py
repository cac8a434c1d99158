"""CocaConfig: presets as data, their sizes, overrides, validation and JSON round trip."""

from __future__ import annotations

import json

import pytest

from components.captioner.config import PRESET_DIR, CocaConfig
from components.captioner.model import CocaModel


def test_presets_are_the_json_files() -> None:
    assert CocaConfig.preset_names() == ["base", "small", "tiny"]
    for name in CocaConfig.preset_names():
        on_disk = json.loads((PRESET_DIR / f"coca_{name}.json").read_text())
        config = CocaConfig.from_preset(name)
        assert {k: getattr(config, k) for k in on_disk} == on_disk


@pytest.mark.parametrize(("name", "low", "high"), [("tiny", 1e5, 1e6), ("small", 3e6, 8e6)])
def test_preset_sizes(name: str, low: float, high: float) -> None:
    n = CocaModel(CocaConfig.from_preset(name)).num_parameters()
    assert low <= n <= high, f"{name} has {n} parameters"


def test_small_keeps_attention_short_and_captions_long() -> None:
    small = CocaConfig.from_preset("small")
    assert small.n_image_tokens == 64
    assert small.context_length >= 256


def test_unknown_preset_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'huge'.*\['base', 'small', 'tiny'\]"):
        CocaConfig.from_preset("huge")


def test_overrides_apply_and_unknown_fields_are_named() -> None:
    assert CocaConfig.from_preset("tiny", vocab_size=300).vocab_size == 300
    with pytest.raises(ValueError, match="'vocab'"):
        CocaConfig.from_preset("tiny", vocab=300)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"vision_width": 65}, "vision_width=65 must be divisible by vision_heads=2"),
        ({"patch_size": 12}, "patch_size=12 must divide image_size=64"),
        ({"stem": "conv", "patch_size": 1}, "patch_size=1: the conv stem needs a power of two"),
        ({"stem": "resnet"}, "stem='resnet'"),
        ({"stem_norm": "layer"}, "stem_norm='layer' must be one of"),
        ({"stem_depth": 0}, "stem_depth=0 must be a positive int"),
        ({"vision_post_norm": "yes"}, "vision_post_norm='yes' must be a bool"),
        ({"pad_token_id": 512}, "pad_token_id=512 is outside the vocabulary"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"text_depth": 0}, "text_depth=0 must be a positive int"),
    ],
)
def test_invalid_values_are_named(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CocaConfig.from_preset("tiny", **overrides)


def test_json_round_trip() -> None:
    config = CocaConfig.from_preset("small", vocab_size=999, stem="patch")
    assert CocaConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="does not parse"):
        CocaConfig.from_json("{not json")
