import re
from collections import Counter

import numpy as np
import pytest

from components.world import ALT_TEXT_KINDS, COLORS, SHAPES, WorldConfig, extract_facts, sample_alt_text, sample_scene

N = 5000


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(31)
    out = []
    for _ in range(N):
        scene = sample_scene(rng)
        out.append((scene, sample_alt_text(scene, rng)))
    return out


def test_mixture_matches_shares(samples):
    kinds = Counter(a.kind for _, a in samples)
    for kind, share in WorldConfig().alt_text_shares.items():
        assert abs(kinds[kind] / N - share) < 0.03, kinds
    assert set(kinds) == set(ALT_TEXT_KINDS)


def test_configured_mixture():
    rng = np.random.default_rng(0)
    config = WorldConfig(alt_text_shares={"wrong": 0.5, "shop": 0.5})
    kinds = Counter(sample_alt_text(sample_scene(rng), rng, config).kind for _ in range(1000))
    assert set(kinds) == {"wrong", "shop"} and abs(kinds["wrong"] / 1000 - 0.5) < 0.06


_WORDS = re.compile(r"[a-z]+")


def test_partly_true_texts_are_true(samples):
    texts = set()
    for scene, alt in samples:
        if alt.kind != "partly_true":
            continue
        texts.add(alt.text)
        assert 1 <= len(alt.text.split()) <= 4, alt.text
        facts = extract_facts(alt.text)
        words = set(_WORDS.findall(alt.text.lower()))
        assert words & set(COLORS) <= {o.color for o in scene.objects}, (alt.text, scene.to_json())
        shape_words = {s for s in SHAPES if s in words or s + "s" in words or (s == "cross" and "crosses" in words)}
        assert shape_words <= {o.shape for o in scene.objects}, (alt.text, scene.to_json())
        for m in facts.mentions:
            n = sum(m.matches(o) for o in scene.objects)
            assert n >= 1 and (m.count is None or m.count == n), (alt.text, scene.to_json())
        assert facts.background in (None, scene.background), alt.text
        assert facts.sign_text is None or (scene.sign is not None and facts.sign_text == scene.sign.text)
        if "sign" in words:
            assert scene.sign is not None
    assert len(texts) > 150


def test_wrong_texts_name_something_absent(samples):
    for scene, alt in samples:
        if alt.kind != "wrong":
            continue
        words = set(_WORDS.findall(alt.text.lower()))
        absent_colors = (words & set(COLORS)) - {o.color for o in scene.objects}
        facts = extract_facts(alt.text)
        absent = [m for m in facts.mentions if not any(m.matches(o) for o in scene.objects)]
        assert absent_colors or absent, (alt.text, scene.to_json())


def test_noise_kinds_look_like_the_web(samples):
    by_kind: dict[str, set[str]] = {}
    for _, alt in samples:
        by_kind.setdefault(alt.kind, set()).add(alt.text)
    names = by_kind["filename"]
    assert all(re.search(r"\.(jpg|JPG|jpeg|png|HEIC|webp)$", t) for t in names)
    prefixes = {re.match(r"[A-Za-z]*", t).group(0) for t in names}
    assert len(prefixes) >= 8
    assert len(by_kind["shop"]) >= 15 and len(by_kind["social"]) >= 15
    assert any(ord(ch) > 0x2000 for t in by_kind["social"] for ch in t)  # emoji
    for kind in ("filename", "shop", "social"):
        assert all(extract_facts(t).pairs == frozenset() for t in by_kind[kind])
