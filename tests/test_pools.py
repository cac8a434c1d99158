"""The concurrency pools' limits come from deploy/pools.yaml into the instance, and a bad
file is refused naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance

from recap_dagster.definitions import ASSETS
from recap_dagster.pools import POOLS, apply_pool_limits, pool_limits


def test_the_limits_reach_the_instance_and_follow_the_file(tmp_path: Path) -> None:
    with DagsterInstance.ephemeral() as instance:
        assert apply_pool_limits(instance) == {"captioner": 1, "trainer": 1, "recaption": 2}
        assert instance.event_log_storage.get_concurrency_info("recaption").slot_count == 2
        edited = tmp_path / "pools.yaml"
        edited.write_text("captioner: 1\ntrainer: 3\nrecaption: 4\n")
        apply_pool_limits(instance, edited)
        assert instance.event_log_storage.get_concurrency_info("trainer").slot_count == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("captioner: 1\ntrainer: 1\n", r"gives no limit for pool\(s\) \['recaption'\]"),
        ("captioner: 1\ntrainer: 1\nrecaption: 1\ngpu: 2\n", r"unknown pool\(s\) \['gpu'\]"),
        ("captioner: 0\ntrainer: 1\nrecaption: 1\n", "pool 'captioner' .* positive integer limit, got 0"),
        ("- captioner\n", "must map pool names to limits"),
    ],
)
def test_a_bad_pools_file_is_refused_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pools.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        pool_limits(path)


def test_every_training_or_device_step_is_in_a_pool() -> None:
    pools = {a.key.to_user_string(): a.op.pool for a in ASSETS}
    assert {name for name, pool in pools.items() if pool} == {
        "captioner_pretrained",
        "captioner",
        "alignment_model",
        "vae",
        "prompt_upsampler",
        "generator",
        "eval_scores",  # draws with a generator: a device step
        "recaptioned_shards",
        "filtered_captions",
    }
    assert set(pools.values()) - {None} == set(POOLS)
