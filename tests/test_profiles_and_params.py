"""Profiles and params.yaml: sizes as data, and bad configuration named before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.data.profiles import PROFILES, resolve_profile
from recap_dagster.project import load_params


def test_profiles_have_the_issue_sizes() -> None:
    quick, paper = PROFILES["quick"], PROFILES["paper"]
    assert (quick.web_shards, quick.web_shard_size, quick.curated_train, quick.curated_heldout) == (4, 1000, 800, 200)
    assert (paper.web_shards, paper.web_shard_size, paper.curated_train, paper.curated_heldout) == (50, 1000, 5000, 500)
    assert quick.web_shard_keys() == ["00000", "00001", "00002", "00003"]
    assert paper.curated_shards == 6  # 5,500 images in shards of 1,000


def test_overrides_apply_by_name() -> None:
    profile = resolve_profile("quick", {"web_shards": 7, "curated_heldout": 0})
    assert profile.web_shards == 7 and profile.curated_heldout == 0 and profile.curated_train == 800


@pytest.mark.parametrize(
    ("name", "overrides", "named"),
    [
        ("fast", {}, "'fast'"),
        ("quick", {"web_shards": -1}, "web_shards"),
        ("quick", {"web_shard_size": 0}, "web_shard_size"),
        ("quick", {"curated_train": 2.5}, "curated_train"),
        ("quick", {"shards": 3}, "shards"),
    ],
)
def test_bad_profile_settings_name_the_value(name: str, overrides: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        resolve_profile(name, overrides)


def write_params(folder: Path, **params: object) -> Path:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_load_params_reads_the_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_params(tmp_path, profile="quick", seed=3, dataset={"web_shards": 2})
    params = load_params(path)
    assert params.seed == 3 and params.dataset_profile().web_shards == 2
    monkeypatch.setenv("RECAP_PROFILE", "paper")
    assert load_params(path).dataset_profile().web_shards == 2  # overrides still apply
    assert load_params(path).profile == "paper"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"profile": "huge"}, "'huge'"),
        ({"sed": 1}, "sed"),
        ({"seed": "one"}, "one"),
        ({"dataset": {"web_shards": -4}}, "web_shards"),
        (
            {
                "world": {
                    "alt_text_shares": {"filename": 0.5, "shop": 0.2, "social": 0.1, "partly_true": 0.1, "wrong": 0.2}
                }
            },
            "alt_text_shares",
        ),
        ({"recaption": {"batch_sise": 8}}, "batch_sise"),
        ({"recaption": {"top_p": 2.0}}, "top_p"),
        ({"recaption": {"num_workers": -1}}, "num_workers"),
        ({"recaption": {"compact_below": 1.5}}, "compact_below"),
    ],
)
def test_bad_params_fail_naming_the_value(tmp_path: Path, params: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        load_params(write_params(tmp_path, **params))
