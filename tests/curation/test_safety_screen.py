"""The training set under the safety policy: examples whose image (a blocked word on its sign,
read by the scene parser) or any caption a mix may draw on breaks the policy leave every mix,
counted by rule; the rest pass untouched."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from components.curation.mix import build_manifest, resolve_mix
from components.curation.safety_screen import images_can_be_refused, screen_rows
from components.data.shard_writer import ShardWriter
from components.safety import load_policy
from tests.safety.sign_scenes import sign_scene

POLICY = {"blocked_terms": ["stop", "gore"]}


def scene_png(sign: str | None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(sign_scene(sign)).save(buffer, format="PNG")
    return buffer.getvalue()


# key -> (its sign word, its original, short and filtered captions)
EXAMPLES = {
    "000000000": (None, "a red circle", "A red circle.", "A large red circle sits at the top left."),
    "000000001": ("STOP", "a red circle", "A red circle.", "A red circle above a white sign."),  # the image
    "000000002": ("OPEN", "a red circle", "A red circle.", "A sign reads 'OPEN' below a red circle."),
    "000000003": (None, "s.t.0.p sign", "A red circle.", "A large red circle."),  # the alt text, disguised
    "000000004": (None, "a red circle", "A gory red circle.", "A large red circle."),  # whole words only: kept
    "000000005": (None, "a red circle", "A red circle.", "A red circle and some gore."),  # the filtered caption
    "000000006": ("STOP", "stop", "Stop.", "A sign reads 'STOP'."),  # the image is checked first
}


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tar = tmp_path_factory.mktemp("web") / "00000.tar"
    with ShardWriter(tar) as writer:
        for key, (sign, original, _, _) in EXAMPLES.items():
            writer.write(key, scene_png(sign), original, {})
    return tar


def rows() -> pd.DataFrame:
    records = [
        {
            "key": key,
            "shard": "00000",
            "status": "ok",
            "original_caption": original,
            "short_caption": short,
            "caption": long,
            "source": "long",
        }
        for key, (_, original, short, long) in EXAMPLES.items()
    ]
    records.append({**records[0], "key": "000000007", "status": "error", "caption": "stop"})  # the mix drops it
    return pd.DataFrame(records)


def test_removed_examples_are_counted_by_rule(shard: Path, tmp_path: Path) -> None:
    policy = load_policy(POLICY, root=tmp_path)
    screened = screen_rows(rows(), policy, {"00000": shard})
    assert screened.counts.seen == 7 and screened.counts.removed == 4
    assert screened.counts.as_dict() == {"sign-word:STOP": 2, "term:stop": 1, "term:gore": 1}
    assert list(screened.removed["key"]) == ["000000001", "000000003", "000000005", "000000006"]
    assert list(screened.rows["key"]) == ["000000000", "000000002", "000000004", "000000007"]
    summary = screened.summary()
    assert summary["policy_version"] == policy.version and summary["removed"] == 4
    manifest = build_manifest(screened.rows, resolve_mix("paper"), seed=0).manifest
    assert sorted(manifest["key"]) == ["000000000", "000000002", "000000004"]


def test_a_policy_of_prompt_terms_alone_reads_no_image(tmp_path: Path) -> None:
    """No blocked sign word and no image classifier: the tars are never opened."""
    policy = load_policy({"blocked_terms": ["gore"]}, root=tmp_path)
    assert not images_can_be_refused(policy)
    screened = screen_rows(rows(), policy, {})  # no tar: reading one would fail
    assert screened.counts.as_dict() == {"term:gore": 1} and len(screened.rows) == len(rows()) - 1


def test_a_disabled_policy_removes_nothing(shard: Path, tmp_path: Path) -> None:
    screened = screen_rows(rows(), load_policy({**POLICY, "enabled": False}, root=tmp_path), {"00000": shard})
    assert screened.counts.removed == 0 and len(screened.rows) == len(rows())


def test_a_missing_tar_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no web shard tar for shard\(s\) \['00000'\]"):
        screen_rows(rows(), load_policy(POLICY, root=tmp_path), {})
