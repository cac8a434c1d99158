import json
from collections import Counter

import numpy as np
import pytest

from components.world import (
    COLORS,
    SHAPES,
    VOCABULARY,
    Scene,
    Sign,
    WorldConfig,
    WorldObject,
    cell_name,
    encode_png,
    render,
    sample_scene,
)
from components.world.geometry import object_centre

N = 4000


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    rng = np.random.default_rng(2024)
    return [sample_scene(rng, WorldConfig()) for _ in range(N)]


def _is_counting(s: Scene) -> bool:
    return len(s.objects) >= 2 and len({(o.color, o.shape, o.size) for o in s.objects}) == 1


def test_same_seed_same_scenes_and_png_bytes():
    def run(seed):
        rng = np.random.default_rng(seed)
        scenes = [sample_scene(rng) for _ in range(50)]
        return [s.to_json() for s in scenes], [encode_png(render(s)) for s in scenes]

    a, b, c = run(7), run(7), run(8)
    assert a == b
    assert a[0] != c[0]


def test_record_json_form():
    s = Scene(
        background="gray",
        objects=(WorldObject(shape="circle", color="red", size="large", row=0, col=2, x=54, y=10),),
        sign=Sign(text="OPEN", row=2),
    )
    expected = {
        "background": "gray",
        "objects": [{"shape": "circle", "color": "red", "size": "large", "row": 0, "col": 2, "x": 54, "y": 10}],
        "sign": {"text": "OPEN", "row": 2},
    }
    assert json.loads(s.to_json()) == expected
    assert list(json.loads(s.to_json())["objects"][0]) == ["shape", "color", "size", "row", "col", "x", "y"]
    assert Scene.from_dict(expected) == s
    assert json.loads(Scene(background="white", objects=(), sign=None).to_json())["sign"] is None


def test_record_validation():
    with pytest.raises(ValueError, match="'hexagon'"):
        WorldObject(shape="hexagon", color="red", size="large", row=0, col=0, x=11, y=11)
    with pytest.raises(ValueError, match="'HELLO'"):
        Sign(text="HELLO", row=0)
    with pytest.raises(ValueError, match="row-major"):
        a = WorldObject(shape="circle", color="red", size="large", row=1, col=0, x=11, y=32)
        b = WorldObject(shape="circle", color="red", size="large", row=0, col=0, x=11, y=11)
        Scene(background="gray", objects=(a, b), sign=None)
    with pytest.raises(ValueError, match="unknown keys"):
        Scene.from_dict({"background": "gray", "objects": [], "sign": None, "extra": 1})


def test_scene_json_round_trip(scenes):
    for s in scenes[:200]:
        assert Scene.from_json(s.to_json()) == s


def test_cell_names():
    assert [cell_name(r, c) for r in range(3) for c in range(3)] == [
        "top left",
        "top",
        "top right",
        "left",
        "center",
        "right",
        "bottom left",
        "bottom",
        "bottom right",
    ]


def test_centres_follow_the_formula():
    # x = col * 64/3 + 32/3 + jitter, rounded: 10.67 -> 11, 32 -> 32, 53.33 -> 53.
    assert [object_centre(i, 0) for i in range(3)] == [11, 32, 53]
    assert [object_centre(i, -1) for i in range(3)] == [10, 31, 52]
    assert [object_centre(i, 1) for i in range(3)] == [12, 33, 54]


def test_layout_rules(scenes):
    for s in scenes:
        cells = [(o.row, o.col) for o in s.objects]
        assert len(cells) == len(set(cells)), s
        assert cells == sorted(cells)
        if s.sign is not None:
            assert s.sign.row in (0, 2)
            assert all(o.row != s.sign.row for o in s.objects), s
        for o in s.objects:
            assert abs(o.x - object_centre(o.col, 0)) <= 1 and abs(o.y - object_centre(o.row, 0)) <= 1
            assert abs(o.x - (o.col * 64 / 3 + 32 / 3)) <= 1.5


def test_scene_distribution(scenes):
    counting = [s for s in scenes if _is_counting(s)]
    ordinary = [s for s in scenes if not _is_counting(s)]
    # Ordinary scenes with 2+ identical objects look like counting scenes; they are rare
    # (2 objects identical: 1/64 of 35%), so the share is 0.20 + ~0.005.
    assert abs(len(counting) / N - 0.205) < 0.025
    assert abs(sum(s.sign is not None for s in scenes) / N - 0.15) < 0.02

    n_objects = Counter(len(s.objects) for s in ordinary)
    for k, p in zip((1, 2, 3, 4), (0.30, 0.35, 0.20, 0.15), strict=False):
        assert abs(n_objects[k] / len(ordinary) - p) < 0.035, (k, n_objects)
    assert set(n_objects) <= {1, 2, 3, 4}

    copies = Counter(len(s.objects) for s in counting)
    assert set(copies) == {2, 3, 4, 5, 6}
    for k in range(3, 7):
        assert abs(copies[k] / len(counting) - 0.2) < 0.06, copies

    objects = [o for s in ordinary for o in s.objects]
    for name, names in (("color", COLORS), ("shape", SHAPES)):
        values = [getattr(o, name) for o in objects]
        freq = Counter(values)
        for v in names:
            assert abs(freq[v] / len(objects) - 1 / len(names)) < 0.02, (name, freq)
    assert abs(sum(o.size == "large" for o in objects) / len(objects) - 0.5) < 0.025
    backgrounds = Counter(s.background for s in scenes)
    assert all(abs(backgrounds[b] / N - 1 / 3) < 0.03 for b in ("white", "gray", "black"))
    signs = [s.sign for s in scenes if s.sign is not None]
    assert abs(sum(g.row == 0 for g in signs) / len(signs) - 0.5) < 0.07
    assert set(g.text for g in signs) == set(VOCABULARY)
    cells = Counter((o.row, o.col) for s in ordinary if s.sign is None for o in s.objects)
    total = sum(cells.values())
    assert all(abs(v / total - 1 / 9) < 0.02 for v in cells.values()) and len(cells) == 9


def test_config_changes_the_distribution():
    rng = np.random.default_rng(0)
    config = WorldConfig(counting_share=1.0, sign_share=1.0, counting_range=(6, 6))
    for _ in range(50):
        s = sample_scene(rng, config)
        assert s.sign is not None and len(s.objects) == 6 and _is_counting(s)
    config = WorldConfig(counting_share=0.0, sign_share=0.0, object_count_probs=(0.0, 0.0, 1.0))
    assert all(len(sample_scene(rng, config).objects) == 3 for _ in range(50))
