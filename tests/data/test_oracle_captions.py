"""Oracle captions: written from each web image's true scene, deterministic, true to the image,
and refused where no scene record exists."""

from pathlib import Path

import pytest

from components.data.build_world import build_web_shard
from components.data.oracle_captions import oracle_captions
from components.data.profiles import resolve_profile
from components.data.shard_reader import read_shard
from components.evaluation.caption_truth import judge_caption
from components.world import Scene, WorldConfig
from tests.user_data import write_user_source


def test_oracle_captions_describe_each_image_truly_and_repeat(tmp_path: Path) -> None:
    profile = resolve_profile("quick", {"web_shards": 1, "web_shard_size": 20})
    tar = build_web_shard(tmp_path, 0, profile=profile, world=WorldConfig(), seed=0).tar_path
    captions = oracle_captions([tar], seed=0)
    assert list(captions.columns) == ["shard", "key", "oracle_caption"] and len(captions) == 20
    assert set(captions["shard"]) == {"00000"}
    scenes = {s.key: Scene.from_dict(s.meta["world_scene"]) for s in read_shard(tar, decode=False)}
    for key, caption in zip(captions["key"], captions["oracle_caption"], strict=True):
        judged = judge_caption(caption, scenes[key])
        assert judged.wholly_true and judged.recall in (1.0, None), (key, caption, judged.reasons)
    assert captions.equals(oracle_captions([tar], seed=0))
    assert not captions["oracle_caption"].equals(oracle_captions([tar], seed=1)["oracle_caption"])


def test_a_source_without_scene_records_has_no_oracle(tmp_path: Path) -> None:
    tars = sorted(write_user_source(tmp_path).glob("*.tar"))
    with pytest.raises(ValueError, match="has no world_scene record; oracle captions exist only for the shapes world"):
        oracle_captions(tars)
