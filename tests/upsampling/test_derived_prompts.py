"""Derived prompts (components/upsampling/train/derived.py): short prompts of the user's kind
written from a curated image's true scene. Known answers on hand-made scenes (every object
named with its count, a relation only where it holds), and on a world-built curated shard
every derived prompt keeps its intent in the image's own descriptive caption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from components.data.build_world import build_curated_shard
from components.data.profiles import resolve_profile
from components.upsampling.intent import check_intent
from components.upsampling.train.derived import derived_pairs, derived_prompt
from components.upsampling.train.recipe import resolve_upsampler_recipe
from components.world import WorldConfig
from components.world.geometry import object_centre
from components.world.scene import Scene, Sign, WorldObject

PROFILE = resolve_profile(
    "quick", {"web_shards": 1, "web_shard_size": 4, "curated_train": 24, "curated_heldout": 4, "curated_shard_size": 28}
)


def _object(color: str, shape: str, row: int, col: int, size: str = "large") -> WorldObject:
    return WorldObject(shape, color, size, row, col, object_centre(col, 0), object_centre(row, 0))


def _prompts(scene: Scene, draws: int = 200) -> set[str]:
    rng = np.random.default_rng(0)
    return {derived_prompt(scene, rng) for _ in range(draws)}


def _with_backgrounds(prompts: set[str], background: str) -> set[str]:
    return prompts | {f"{p} on a {background} background" for p in prompts}


def test_a_lone_object() -> None:
    scene = Scene("gray", (_object("red", "circle", 1, 1),), None)
    expected = {"a red circle", "a large red circle", "a circle", "a large circle"}
    assert _prompts(scene) == _with_backgrounds(expected, "gray")


def test_a_counted_group_is_named_with_its_exact_count() -> None:
    scene = Scene("white", tuple(_object("orange", "cross", 0, col) for col in range(3)), None)
    assert _prompts(scene) == _with_backgrounds({"three orange crosses", "three crosses"}, "white")


def test_two_lone_objects_by_a_relation_that_holds_or_joined() -> None:
    scene = Scene("black", (_object("green", "square", 0, 0), _object("brown", "cross", 2, 0)), None)
    expected = {
        "a green square and a brown cross",
        "a green square above a brown cross",  # same column: above, never left or right
        "a square and a cross",
        "a square above a cross",
    }
    assert _prompts(scene) == _with_backgrounds(expected, "black")


def test_shapes_alone_merge_what_only_colour_told_apart() -> None:
    scene = Scene("gray", (_object("red", "circle", 0, 0), _object("blue", "circle", 0, 2)), None)
    prompts = _prompts(scene)
    assert "two circles" in prompts and "a red circle to the left of a blue circle" in prompts
    assert not any("a circle" in p for p in prompts)  # two circles are never one


def test_the_sign_by_its_word() -> None:
    assert _prompts(Scene("white", (), Sign("SALE", 0))) == _with_backgrounds({"a sign that says 'SALE'"}, "white")
    with_object = _prompts(Scene("gray", (_object("pink", "triangle", 2, 1),), Sign("STOP", 0)))
    assert "a pink triangle and a sign that says 'STOP'" in with_object


def test_every_derived_prompt_keeps_its_intent_in_the_images_caption(tmp_path: Path) -> None:
    shard = build_curated_shard(tmp_path, 0, profile=PROFILE, world=WorldConfig(), seed=0).tar_path
    pairs = derived_pairs([shard], per_image=3, seed=0)
    assert len(pairs) >= 24 * 2 and {p.source for p in pairs} == {"derived"}  # heldout images give none
    assert all(check_intent(p.short, p.long).passed for p in pairs), [
        (p.short, check_intent(p.short, p.long).failures) for p in pairs if not check_intent(p.short, p.long).passed
    ]
    by_caption: dict[str, list[str]] = {}
    for p in pairs:
        by_caption.setdefault(p.long, []).append(p.short)
    assert all(len(set(shorts)) == len(shorts) <= 3 for shorts in by_caption.values())  # distinct per image
    assert derived_pairs([shard], per_image=3, seed=0) == pairs  # the same for the same seed
    assert derived_pairs([shard], per_image=0, seed=0) == []
    from components.upsampling.train.stage import training_pairs

    kept, counts = training_pairs(resolve_upsampler_recipe("quick", {"derived_prompts": 3}), [shard], [], seed=0)
    assert counts["curated_read"] == 24 and counts["derived_read"] == counts["derived_kept"] == len(pairs)
    assert [p for p in kept if p.source == "derived"] == pairs


def test_a_curated_set_without_scenes_is_refused_naming_it(tmp_path: Path) -> None:
    from tests.upsampling.test_train import write_curated

    shard = write_curated(tmp_path / "00000.tar", [("a red circle", "A red circle on white.", "train")])
    with pytest.raises(ValueError, match=r"00000.tar sample 000000000 has no world_scene record"):
        derived_pairs([shard], per_image=1, seed=0)
    with pytest.raises(ValueError, match=r"derived_prompts \(-1\) and no_repeat_ngram_size \(8\) must be >= 0"):
        resolve_upsampler_recipe("quick", {"derived_prompts": -1})
