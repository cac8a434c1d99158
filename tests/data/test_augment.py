"""Augmented captions stay true of their augmented images: checked by the scene parser."""

from __future__ import annotations

import numpy as np
import pytest

from components.data.augment import (
    PALETTE,
    augment,
    can_flip,
    flip_horizontal,
    palette_index,
    permute_colors,
)
from components.evaluation.caption_truth import score_captions
from components.world import WorldConfig, describe_scene, parse_image, render, sample_scene


def scenes_with_captions(n: int, seed: int = 0):
    config = WorldConfig()
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        scene = sample_scene(rng, config)
        captions = describe_scene(scene, rng)
        yield scene, render(scene, config), [captions.short, captions.descriptive]


def test_colour_permutation_known_answer() -> None:
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    image[0, 0] = (220, 30, 30)  # red
    image[1, 1] = (30, 70, 220)  # blue
    swap_red_blue = [4, 1, 2, 3, 0, 5, 6, 7]  # palette order: red, orange, yellow, green, blue, ...
    out, [text] = permute_colors(image, ["Red circle, blue square; redder"], swap_red_blue)
    assert tuple(out[0, 0]) == (30, 70, 220) and tuple(out[1, 1]) == (220, 30, 30)
    assert tuple(out[0, 1]) == (0, 0, 0)
    assert text == "Blue circle, red square; redder"


def test_palette_index_matches_one_mask_per_colour() -> None:
    for _, image, _ in scenes_with_captions(20):
        expected = np.full(image.shape[:2], -1)
        for i, colour in enumerate(PALETTE):
            expected[(image == colour).all(axis=-1)] = i
        assert (palette_index(image) == expected).all()
    near = np.array([[[220, 30, 31], [0, 0, 0], [255, 255, 255], [130, 80, 30]]], dtype=np.uint8)
    assert palette_index(near).tolist() == [[-1, -1, -1, 7]]  # exact palette pixels only (brown is 7)


def test_flip_known_answer_and_refusal() -> None:
    image = np.arange(12, dtype=np.uint8).reshape(1, 4, 3)
    out, [text] = flip_horizontal(image, ["A dot at the left, to the right of one right in the middle. Leftover."])
    assert (out[0, 0] == image[0, 3]).all()
    assert text == "A dot at the right, to the left of one right in the middle. Leftover."
    assert not can_flip(image, ["a white sign reads 'OPEN'"])
    with pytest.raises(ValueError, match="sign"):
        flip_horizontal(np.full((2, 2, 3), 255, dtype=np.uint8), ["x"])


def test_augmented_captions_stay_true_of_the_parsed_image() -> None:
    """The parser reads the augmented image's truth; the augmented captions must match it."""
    rng = np.random.default_rng(7)
    captions, truths, flipped = [], [], 0
    for _, image, texts in scenes_with_captions(300):
        new_image, new_texts = augment(image, texts, rng, flip_prob=0.5)
        flipped += not np.array_equal(new_image, image) and can_flip(image, texts)
        parsed = parse_image(new_image).scene
        captions.append(new_texts[1])
        truths.append(parsed)
    scores = score_captions(captions, truths)
    assert scores.object_recall == 1.0
    assert scores.hallucination_rate == 0.0
    assert flipped > 50  # the flip really ran on a good share of the images


def test_flipped_single_object_captions_name_the_mirrored_side() -> None:
    """With one object and no sign, "left"/"right" in a caption can only be its cell."""
    checked = 0
    for scene, image, texts in scenes_with_captions(400, seed=1):
        if len(scene.objects) != 1 or not can_flip(image, texts):
            continue
        new_image, [_, long] = flip_horizontal(image, texts)
        [obj] = parse_image(new_image).scene.objects
        assert obj.col == 2 - scene.objects[0].col
        words = set(long.lower().replace(".", " ").replace(",", " ").split())
        expected = {0: {"left"}, 1: set(), 2: {"right"}}[obj.col]
        sides = words - ({"right"} if "right in the middle" in long.lower() else set())
        assert sides & {"left", "right"} == expected, long
        checked += 1
    assert checked > 50
