import numpy as np
import pytest

from components.world import (
    BACKGROUNDS,
    COLORS,
    Scene,
    Sign,
    WorldConfig,
    WorldObject,
    compare_scenes,
    parse_image,
    render,
    sample_scene,
)
from components.world.geometry import object_box, sign_box


def _scene(*objects: WorldObject, sign: Sign | None = None, background: str = "gray") -> Scene:
    return Scene(background=background, objects=tuple(sorted(objects, key=lambda o: (o.row, o.col))), sign=sign)


RED_SQUARE = WorldObject(shape="square", color="red", size="large", row=0, col=0, x=11, y=11)
BLUE_CROSS = WorldObject(shape="cross", color="blue", size="small", row=1, col=2, x=53, y=32)


def test_recovers_2000_rendered_scenes_exactly():
    rng = np.random.default_rng(99)
    # Raise sign and counting shares so both are well covered.
    config = WorldConfig(sign_share=0.4, counting_share=0.3)
    failures = []
    for _ in range(2000):
        truth = sample_scene(rng, config)
        parsed = parse_image(render(truth))
        match = compare_scenes(parsed.scene, truth)
        if not match.exact:
            failures.append((truth.to_json(), match.reasons))
        # Beyond the cell, the parser recovers the record's exact centre.
        assert [(o.x, o.y) for o in parsed.scene.objects] == [(o.x, o.y) for o in truth.objects]
    assert not failures, failures[:3]


def test_recovers_noisy_images():
    # Gaussian noise (sigma 12 per channel) moves no pixel to another palette colour often
    # enough to matter: components stay whole, the sign's ring stays dark.
    rng = np.random.default_rng(5)
    config = WorldConfig(sign_share=0.5)
    for _ in range(200):
        truth = sample_scene(rng, config)
        noisy = np.clip(render(truth) + rng.normal(0, 12, (64, 64, 3)), 0, 255).astype(np.uint8)
        match = compare_scenes(parse_image(noisy).scene, truth)
        assert match.exact, match.reasons


def test_notes_explain_each_detection():
    truth = _scene(RED_SQUARE, BLUE_CROSS, sign=Sign("OPEN", 2), background="black")
    parsed = parse_image(render(truth))
    notes = "\n".join(parsed.notes)
    assert parsed.scene == truth
    assert (
        "object: large red square at top left (row 0, col 0) from red component of 256 px, "
        "box x=3..18 y=3..18 (16 x 16)"
    ) in notes
    assert "shape IoU square 1.00" in notes
    assert "small blue cross at right" in notes and "cross 1.00" in notes
    assert "sign: 'OPEN' (best word 'OPEN' ink IoU 1.00" in notes
    assert "background: black" in notes
    assert "0 of 4096 unknown" in notes


def test_painted_over_object_is_reported_missing():
    truth = _scene(RED_SQUARE, BLUE_CROSS)
    image = render(truth)
    x0, y0, w, h = object_box(RED_SQUARE.x, RED_SQUARE.y, RED_SQUARE.size)
    image[y0 : y0 + h, x0 : x0 + w] = BACKGROUNDS["gray"]
    match = compare_scenes(parse_image(image).scene, truth)
    assert not match.exact
    assert "missing: large red square at top left" in match.reasons
    assert "ok: small blue cross at right" in match.reasons


def test_half_painted_object_is_judged_wrong_with_reason():
    truth = _scene(RED_SQUARE)
    image = render(truth)
    image[3:19, 11:19] = BACKGROUNDS["gray"]  # keep the left half: an 8 x 16 bar
    parsed = parse_image(image)
    match = compare_scenes(parsed.scene, truth)
    assert not match.exact
    # An 8 x 16 bar is no world square: in a 16 x 16 box the square template scores 0.5,
    # below the triangle (0.62) and the cross (0.61).
    assert "wrong: large red square at top left: found shape triangle instead of square" in match.reasons
    assert any("shape IoU triangle 0.62, cross 0.61, circle 0.58, square 0.50" in n for n in parsed.notes), parsed.notes


def test_shapeless_blob_is_rejected_with_scores():
    truth = _scene(BLUE_CROSS)
    image = render(truth)
    image[30:32, 2:20] = COLORS["red"]  # a 2 x 18 line
    parsed = parse_image(image)
    assert parsed.scene == truth
    assert any("rejected red component of 36 px" in n and "no shape fits" in n for n in parsed.notes), parsed.notes


def test_recoloured_and_extra_objects():
    truth = _scene(RED_SQUARE)
    image = render(truth)
    image[3:19, 3:19][(image[3:19, 3:19] == COLORS["red"]).all(-1)] = COLORS["green"]
    x0, y0, w, h = object_box(32, 53, "small")
    image[y0 : y0 + h, x0 : x0 + w] = COLORS["pink"]
    match = compare_scenes(parse_image(image).scene, truth)
    assert "wrong: large red square at top left: found color green instead of red" in match.reasons
    assert "extra: small pink square at bottom" in match.reasons


def test_small_specks_and_unknown_pixels_are_reported():
    truth = _scene(BLUE_CROSS)
    image = render(truth)
    image[40:42, 5:10] = COLORS["red"]  # 10 px: below the 12-pixel minimum
    image[0:4, 30:40] = (90, 200, 255)  # 40 px far from every palette colour
    parsed = parse_image(image)
    notes = "\n".join(parsed.notes)
    assert parsed.scene == truth
    assert "rejected red component of 10 px" in notes and "fewer than 12 px" in notes
    assert "40 of 4096 unknown" in notes


def test_sign_problems():
    truth = _scene(BLUE_CROSS, sign=Sign("BOOK", 0), background="white")
    image = render(truth)
    x0, y0, w, h = sign_box(0)
    blanked = image.copy()
    blanked[y0 + 1 : y0 + h - 1, x0 + 1 : x0 + w - 1] = (255, 255, 255)  # erase the word
    parsed = parse_image(blanked)
    assert parsed.scene.sign is None
    assert any(n.startswith("sign: rejected, word unread") for n in parsed.notes), parsed.notes
    assert "missing: sign 'BOOK' in row 0" in compare_scenes(parsed.scene, truth).reasons

    erased = image.copy()
    erased[y0 : y0 + h, x0 : x0 + w] = BACKGROUNDS["white"]
    parsed = parse_image(erased)
    assert parsed.scene.sign is None and parsed.scene.background == "white"
    assert any(n.startswith("sign: none") for n in parsed.notes)

    other = render(_scene(BLUE_CROSS, sign=Sign("BANK", 0), background="white"))
    match = compare_scenes(parse_image(other).scene, truth)
    assert "wrong: sign 'BANK' in row 0, expected 'BOOK' in row 0" in match.reasons


def test_shifted_sign_is_still_read():
    truth = _scene(BLUE_CROSS, sign=Sign("CAFE", 2), background="black")
    image = render(truth)
    shifted = np.full_like(image, BACKGROUNDS["black"])
    shifted[:, 2:] = image[:, :-2]  # everything two pixels to the right
    parsed = parse_image(shifted)
    assert parsed.scene.sign == Sign("CAFE", 2)


def test_background_is_the_majority():
    image = np.full((64, 64, 3), BACKGROUNDS["white"], dtype=np.uint8)
    image[:20] = BACKGROUNDS["black"]
    assert parse_image(image).scene.background == "white"
    assert parse_image(image).scene.objects == ()


def test_rejects_non_images():
    with pytest.raises(ValueError, match="uint8"):
        parse_image(np.zeros((64, 64, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(32, 32, 3\)"):
        parse_image(np.zeros((32, 32, 3), dtype=np.uint8))
