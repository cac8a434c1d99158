"""A user's source: listed, checked, read in place or copied from a remote filesystem, and
never written; the data root and sidecar folder checks that guard it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import fsspec
import pytest

from components.data.inbox import InboxState
from components.data.source import ShardSource, SourceError, parse_source, write_shard_record
from components.io.dataset_root import RECORD, DatasetMismatch
from recap_dagster.config import source_partition_changes
from recap_dagster.resources import ProjectStorage
from tests.user_data import tree_checksums, write_user_source


def test_world_or_a_folder_or_a_url(tmp_path: Path) -> None:
    assert parse_source("world", tmp_path) is None
    local = ShardSource.parse("laion", tmp_path)
    assert local.location == str(tmp_path / "laion") and local.is_local
    assert ShardSource.parse(f"file://{tmp_path}/laion/", tmp_path).location == str(tmp_path / "laion")
    remote = ShardSource.parse("s3://bucket/laion-400m/", tmp_path)
    assert remote.location == "s3://bucket/laion-400m" and not remote.is_local
    assert remote.slug.startswith("laion_400m_") and len(remote.slug) == len("laion_400m_") + 8
    assert ShardSource.parse("s3://other/laion-400m", tmp_path).slug != remote.slug
    with pytest.raises(SourceError, match="dataset.source must be"):
        ShardSource.parse(" ", tmp_path)


def test_a_source_lists_its_shards_and_refuses_what_is_none(tmp_path: Path) -> None:
    source = ShardSource(str(write_user_source(tmp_path / "laion")))
    assert source.check() == ["00000", "00001"]  # README.txt is not a shard
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "shard-a.tar").write_bytes(b"")
    for bad, message in {
        "missing": "does not exist",
        "a_file": "is not a folder of img2dataset shards: it is a file",
        "empty": "holds no img2dataset shards",
        "other": "holds no img2dataset shards (NNNNN.tar beside NNNNN.parquet); found 1 other entries",
    }.items():
        with pytest.raises(SourceError, match=re.escape(message)) as error:
            ShardSource(str(tmp_path / bad)).check()
        assert str(tmp_path / bad) in str(error.value)
    with pytest.raises(SourceError, match="00007.tar is not in source"):
        source.shard_tar("00007", tmp_path / "cache")
    with pytest.raises(ValueError, match="is not a shard name"):
        source.shard_tar("7", tmp_path / "cache")


def test_a_remote_source_is_copied_once_and_again_when_it_changes(tmp_path: Path) -> None:
    local = write_user_source(tmp_path / "laion")
    memory = fsspec.filesystem("memory")
    for path in local.iterdir():
        memory.pipe(f"/remote-laion/{path.name}", path.read_bytes())
    source = ShardSource.parse("memory://remote-laion", tmp_path)
    assert not source.is_local and source.check() == ["00000", "00001"]
    cache = tmp_path / "cache"
    tar = source.shard_tar("00001", cache)
    assert tar == cache / "00001.tar" and tar.read_bytes() == (local / "00001.tar").read_bytes()
    assert (cache / "00001.parquet").read_bytes() == (local / "00001.parquet").read_bytes()
    copied_at = tar.stat().st_mtime_ns
    assert source.shard_tar("00001", cache).stat().st_mtime_ns == copied_at  # same size: not copied again
    memory.pipe("/remote-laion/00001.tar", (local / "00000.tar").read_bytes())
    assert source.shard_tar("00001", cache).read_bytes() == (local / "00000.tar").read_bytes()
    record = json.loads(write_shard_record(tmp_path / "records", source, "00001", tar).read_text())
    assert record["tar"] == "memory://remote-laion/00001.tar" and record["tar_bytes"] == tar.stat().st_size
    memory.rm("/remote-laion", recursive=True)


def test_partitions_follow_the_source(tmp_path: Path) -> None:
    source = ShardSource(str(write_user_source(tmp_path / "laion")))
    sync = source_partition_changes(source, ["00000", "00005"], InboxState(), two_looks=False, settle_seconds=0)
    assert sync.added == ["00001"] and sync.removed == ["00005"] and sync.keys == ["00000", "00001"]


def test_a_data_root_inside_the_source_or_of_another_dataset_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_user_source(tmp_path / "laion")
    before = tree_checksums(source)
    monkeypatch.setenv("RECAP_SOURCE", str(source))
    with pytest.raises(ValueError, match="lies inside the source"):
        ProjectStorage(data_root=str(source / "data")).claim_dataset_root()
    world_root = tmp_path / "world" / "data"
    (world_root / "web_shards").mkdir(parents=True)
    (world_root / "web_shards" / "00000.tar").write_bytes(b"")  # the world's, from before records existed
    with pytest.raises(DatasetMismatch, match="holds the artifacts of dataset 'world'") as error:
        ProjectStorage(data_root=str(world_root)).claim_dataset_root()
    assert "datasets/laion_" in str(error.value)  # the fix: a data root of its own
    own = ProjectStorage(data_root=str(tmp_path / "mine" / "data"))
    own.claim_dataset_root()
    assert json.loads((tmp_path / "mine" / RECORD).read_text()) == {"dataset": str(source)}
    own.claim_dataset_root()  # the same dataset again: fine
    monkeypatch.delenv("RECAP_SOURCE")
    with pytest.raises(DatasetMismatch, match=re.escape(f"holds the artifacts of dataset '{source}', not 'world'")):
        own.claim_dataset_root()
    assert tree_checksums(source) == before


def test_a_sidecar_folder_is_checked_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_user_source(tmp_path / "laion")
    monkeypatch.setenv("RECAP_SOURCE", str(source))
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        ProjectStorage(recaptioned_root=str(tmp_path / "a_file")).claim_sidecar_dir()
    with pytest.raises(ValueError, match="lies inside the source"):
        ProjectStorage(recaptioned_root=str(source / "captions")).claim_sidecar_dir()
    ProjectStorage(recaptioned_root=str(tmp_path / "captions")).claim_sidecar_dir()
    (tmp_path / "another").mkdir()  # another source (one that does not exist fails on its own, at load)
    monkeypatch.setenv("RECAP_SOURCE", str(tmp_path / "another"))
    with pytest.raises(DatasetMismatch, match="choose another sidecar folder"):
        ProjectStorage(recaptioned_root=str(tmp_path / "captions")).claim_sidecar_dir()
