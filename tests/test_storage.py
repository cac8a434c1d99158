"""ProjectStorage puts each artifact where DESIGN.md's "Formats and where artifacts live" says."""

from __future__ import annotations

from pathlib import Path

import pytest

from recap_dagster.definitions import RESOURCES
from recap_dagster.resources import ProjectStorage


def test_each_artifact_has_its_designed_path(tmp_path: Path) -> None:
    storage = ProjectStorage(data_root=str(tmp_path / "data"))
    assert storage.web_shards_dir() == tmp_path / "data" / "web_shards"
    assert storage.web_shard_tar("00003") == tmp_path / "data" / "web_shards" / "00003.tar"
    assert storage.curated_dir() == tmp_path / "data" / "curated"
    assert storage.recaptioned_dir() == tmp_path / "data" / "recaptioned"
    assert storage.captioner_dir() == tmp_path / "models" / "captioner"
    assert storage.captioner_pretrained_dir() == tmp_path / "models" / "captioner_pretrained"
    assert storage.work_dir("captioner") == tmp_path / "work" / "captioner"
    assert storage.device_locks_dir() == tmp_path / "work" / "device_locks"


def test_a_partition_key_that_is_no_shard_name_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'3'"):
        ProjectStorage(data_root=str(tmp_path)).web_shard_tar("3")


def test_default_root_is_params_data_root_under_the_project(tiny_root: Path) -> None:
    assert RESOURCES["storage"].web_shard_tar("00001") == tiny_root / "data" / "web_shards" / "00001.tar"
    assert RESOURCES["storage"].captioner_dir() == tiny_root / "models" / "captioner"
