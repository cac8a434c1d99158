import numpy as np
import pytest

from components.world import (
    BACKGROUNDS,
    COLORS,
    INK,
    SIGN_WHITE,
    Scene,
    Sign,
    WorldObject,
    decode_png,
    encode_png,
    render,
)
from components.world.font import word_mask
from components.world.geometry import sign_box
from components.world.shapes import arm_width, shape_mask

RED, GRAY = COLORS["red"], BACKGROUNDS["gray"]


def _scene(*objects: WorldObject, sign: Sign | None = None, background: str = "gray") -> Scene:
    return Scene(background=background, objects=tuple(sorted(objects, key=lambda o: (o.row, o.col))), sign=sign)


def _is(image: np.ndarray, rgb) -> np.ndarray:
    return (image == np.array(rgb, dtype=np.uint8)).all(-1)


def test_large_square_covers_exactly_its_box():
    # Row 0, col 0, zero jitter: centre (11, 11), box x0 = 11 - 8 = 3, so pixels 3..18.
    image = render(_scene(WorldObject(shape="square", color="red", size="large", row=0, col=0, x=11, y=11)))
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    red = _is(image, RED)
    expected = np.zeros((64, 64), dtype=bool)
    expected[3:19, 3:19] = True
    assert (red == expected).all()
    assert _is(image, GRAY)[~expected].all()
    assert tuple(image[2, 3]) == GRAY and tuple(image[3, 3]) == RED
    assert tuple(image[18, 18]) == RED and tuple(image[19, 18]) == GRAY


def test_small_box_rule():
    # Small: x0 = x - 5, so x = 32 covers 27..36.
    image = render(_scene(WorldObject(shape="square", color="blue", size="small", row=1, col=1, x=32, y=31)))
    ys, xs = np.nonzero(_is(image, COLORS["blue"]))
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (27, 36, 26, 35)


def test_triangle_apex_up_base_at_bottom():
    image = render(_scene(WorldObject(shape="triangle", color="red", size="large", row=1, col=1, x=32, y=32)))
    red = _is(image, RED)[24:40, 24:40]  # the box
    widths = red.sum(1)
    assert widths[0] == 2 and red[0, 7] and red[0, 8]  # 2-pixel apex in the middle of the top row
    assert widths[-1] == 16  # full base on the bottom row
    assert (np.diff(widths) >= 0).all()
    assert (red == red[:, ::-1]).all()  # symmetric
    assert not _is(image, RED)[:24].any() and not _is(image, RED)[40:].any()


def test_cross_arm_width_is_a_third():
    assert (arm_width(10), arm_width(16)) == (4, 6)
    image = render(_scene(WorldObject(shape="cross", color="green", size="small", row=2, col=2, x=53, y=53)))
    green = _is(image, COLORS["green"])[48:58, 48:58]  # box x0 = 53 - 5 = 48
    assert green[:, 3:7].all() and green[3:7, :].all()  # arms 4 wide, centred
    assert not green[:3, :3].any() and not green[7:, 7:].any() and not green[:3, 7:].any()
    assert green.sum() == 2 * 10 * 4 - 16


def test_circle_touches_its_box_and_not_its_corners():
    m = shape_mask("circle", 16, 16)
    assert m.any(0).all() and m.any(1).all()
    assert not m[0, 0] and not m[15, 15] and m[8, 8]
    assert (m == m[::-1]).all() and (m == m[:, ::-1]).all()
    assert m.sum() == 208


def test_every_shape_fills_its_box_extent():
    for shape in ("circle", "square", "triangle", "cross"):
        for s in (10, 16):
            m = shape_mask(shape, s, s)
            assert m.any(0).all() and m.any(1).all(), (shape, s)


def test_sign_known_pixels():
    circle = WorldObject(shape="circle", color="red", size="small", row=2, col=0, x=11, y=53)
    image = render(_scene(circle, sign=Sign("STOP", 0)))
    assert sign_box(0) == (10, 4, 44, 15) and sign_box(2) == (10, 46, 44, 15)
    sign = image[4:19, 10:54]
    border = _is(sign, INK)
    assert border[0].all() and border[-1].all() and border[:, 0].all() and border[:, -1].all()
    assert tuple(image[5, 11]) == SIGN_WHITE
    assert tuple(image[3, 10]) == GRAY and tuple(image[19, 53]) == GRAY and tuple(image[4, 54]) == GRAY
    # The word sits at (9, 4) inside the sign: "S" starts with ".####".
    assert tuple(image[8, 19]) == SIGN_WHITE and tuple(image[8, 20]) == INK
    ink = _is(sign, INK)
    assert (ink[4:11, 9:35] == word_mask("STOP")).all()
    assert ink.sum() == 2 * 44 + 2 * 13 + word_mask("STOP").sum()


def test_every_word_fits_inside_the_sign_with_margin():
    from components.world import VOCABULARY
    from components.world.render import sign_ink

    masks = {}
    for word in VOCABULARY:
        interior = sign_ink(word)[1:-1, 1:-1]  # (13, 42) inside the border
        ys, xs = np.nonzero(interior)
        assert ys.min() >= 3 and ys.max() <= 13 - 1 - 3, word
        assert xs.min() >= 8 and xs.max() <= 42 - 1 - 8, word
        masks[word] = interior
    # Words are distinct: any two differ in at least 10 pixels.
    words = list(masks)
    for i, a in enumerate(words):
        for b in words[i + 1 :]:
            assert (masks[a] != masks[b]).sum() >= 10, (a, b)


def test_only_palette_colours():
    rng = np.random.default_rng(1)
    from components.world import sample_scene

    allowed = {tuple(c) for c in COLORS.values()} | {tuple(c) for c in BACKGROUNDS.values()} | {SIGN_WHITE, INK}
    for _ in range(50):
        image = render(sample_scene(rng))
        assert {tuple(p) for p in image.reshape(-1, 3).tolist()} <= allowed


def test_png_is_lossless():
    rng = np.random.default_rng(3)
    from components.world import sample_scene

    image = render(sample_scene(rng))
    data = encode_png(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (decode_png(data) == image).all()
    assert encode_png(image) == data


def test_encode_rejects_wrong_arrays():
    with pytest.raises(ValueError, match="float"):
        encode_png(np.zeros((64, 64, 3), dtype=np.float32))
