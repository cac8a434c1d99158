"""Image quality by re-rendering: known answers on world pictures, a blank image, noise and a
blurred copy."""

from __future__ import annotations

import numpy as np
import pytest

from components.evaluation.image_quality import image_quality
from components.world import WorldConfig, render, sample_scene
from components.world.palette import BACKGROUNDS, COLORS


@pytest.mark.parametrize("seed", range(8))
def test_a_world_picture_rerenders_to_itself(seed: int) -> None:
    scene = sample_scene(np.random.default_rng(seed), WorldConfig())
    quality = image_quality(render(scene))
    assert quality.distance == 0.0 and quality.explained == 1.0


def test_a_blank_image_is_a_background_off_by_its_distance() -> None:
    # Mid-grey 128 is nearest to the gray background (150): every pixel 22 off in each channel.
    quality = image_quality(np.full((64, 64, 3), 128, dtype=np.uint8))
    assert quality.distance == pytest.approx(22 / 255)
    assert quality.explained == 1.0  # sqrt(3) * 22 = 38 is within the parser's 60
    gray = np.array(BACKGROUNDS["gray"], dtype=np.uint8)
    assert image_quality(np.broadcast_to(gray, (64, 64, 3)).copy()).distance == 0.0


def test_noise_and_blur_lower_the_quality() -> None:
    picture = render(sample_scene(np.random.default_rng(3), WorldConfig()))
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    noisy = image_quality(noise)
    assert noisy.distance > 0.2 and noisy.explained < 0.5
    blurred = picture.astype(np.float32)
    blurred = (blurred + np.roll(blurred, 1, axis=0) + np.roll(blurred, 1, axis=1)) / 3  # a smudged copy
    smudged = image_quality(blurred.round().astype(np.uint8))
    assert 0 < smudged.distance < noisy.distance and smudged.explained < 1.0


def test_the_parser_refuses_an_image_of_another_size() -> None:
    with pytest.raises(ValueError):
        image_quality(np.zeros((32, 32, 3), dtype=np.uint8))


def test_a_blot_at_the_edge_re_renders_just_inside_the_canvas():
    """The parser reads a blot in the corner as an object whose box runs past the edge, which
    no world picture has; the re-render draws it just inside, so the figure exists."""
    image = np.empty((64, 64, 3), dtype=np.uint8)
    image[:] = BACKGROUNDS["white"]
    image[56:64, 0:8] = COLORS["brown"]  # 8 x 8 in the corner: read as a small square centred at (4, 60)
    quality = image_quality(image)
    assert 0.0 < quality.distance < 0.05 and 0.9 < quality.explained < 1.0
