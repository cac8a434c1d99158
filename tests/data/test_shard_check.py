"""A tar's keys against its parquet index: agreement, disagreement, a truncated tar, and an
index without usable keys."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.data.shard_check import ShardCorruptError, compare_shard_index, read_index, tar_keys
from tests.data.shard_files import member_offsets, write_shard


def test_compare_shard_index_agrees_and_disagrees(tmp_path: Path) -> None:
    path = tmp_path / "00000.tar"
    write_shard(path, 4)
    index_path = path.with_suffix(".parquet")
    agreement = compare_shard_index(path, index_path)
    assert agreement.ok and agreement.same_order and agreement.tar_count == agreement.index_count == 4

    table = pq.read_table(index_path)
    keys = table.column("key").to_pylist()
    # drop one key from the index, add one the tar lacks
    edited = table.slice(1).set_column(0, "key", pa.array([*keys[1:-1], "999999999"]))
    pq.write_table(edited, index_path)
    agreement = compare_shard_index(path, index_path)
    assert not agreement.ok
    assert agreement.missing_in_tar == ["999999999"]
    assert agreement.missing_in_index == [keys[0], keys[-1]]


def test_tar_keys_and_compare_on_truncated_tar(tmp_path: Path) -> None:
    path = tmp_path / "00000.tar"
    write_shard(path, 4)
    start, size = member_offsets(path)["000000002.png"]
    path.write_bytes(path.read_bytes()[: start + size // 2])
    with pytest.raises(ShardCorruptError, match="truncated_tar") as error:
        tar_keys(path)
    assert error.value.keys == ["000000000", "000000001", "000000002"]
    agreement = compare_shard_index(path, path.with_suffix(".parquet"))
    assert not agreement.ok and agreement.tar_error is not None and agreement.tar_error.startswith("truncated_tar")


def test_read_index_requires_key_column(tmp_path: Path) -> None:
    pq.write_table(pa.table({"caption": ["x"]}), tmp_path / "00000.parquet")
    with pytest.raises(ValueError, match="no 'key' column"):
        read_index(tmp_path / "00000.parquet")
    pq.write_table(pa.table({"key": [1, 2]}), tmp_path / "00001.parquet")
    with pytest.raises(ValueError, match="non-strings"):
        read_index(tmp_path / "00001.parquet")
