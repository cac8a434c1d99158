"""A shard's two lists of keys, its tar's (from headers alone) and its parquet index's, and
whether they agree (layout: shard_layout.py)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from components.data.shard_layout import split_member_name
from components.data.shard_tar import TarStream, unsafe_reason


class ShardCorruptError(ValueError):
    """A tar that cannot be read to its end; `keys` holds the keys read before the damage."""

    def __init__(self, path: Path, reason: str, detail: str, keys: list[str]) -> None:
        super().__init__(f"{str(path)!r}: {reason}: {detail} (after {len(keys)} keys)")
        self.path, self.reason, self.detail, self.keys = path, reason, detail, keys


def read_index(parquet_path: str | os.PathLike[str]) -> pd.DataFrame:
    """The shard's parquet index as a DataFrame. Requires a string `key` column; every
    other column is kept as is (img2dataset's `url`, `exif`, ... included)."""
    path = Path(parquet_path)
    frame = pd.read_parquet(path)
    if "key" not in frame.columns:
        raise ValueError(f"index {str(path)!r} has no 'key' column (columns: {list(frame.columns)})")
    if len(frame) and not all(isinstance(k, str) for k in frame["key"]):
        raise ValueError(f"index {str(path)!r}: 'key' column holds non-strings (dtype {frame['key'].dtype})")
    return frame


def _scan_keys(path: Path) -> tuple[list[str], tuple[str, str] | None]:
    """Distinct keys of a tar's readable members in order of first appearance, reading
    headers only, and the damage (reason, detail) that stopped the scan, if any."""
    keys: list[str] = []
    last: str | None = None
    with open(path, "rb") as f:
        shard = TarStream(path, f)
        for member in shard.members():
            if unsafe_reason(member) is not None:
                continue
            key, _ = split_member_name(member.name)
            if key != last:
                keys.append(key)
                last = key
    return keys, shard.error


def tar_keys(tar_path: str | os.PathLike[str]) -> list[str]:
    """The sample keys of a tar in order (one per consecutive group of members, so a key
    split across groups appears twice). Reads headers only. Raises ShardCorruptError, which
    carries the keys read before the damage, when the tar is truncated or corrupt."""
    path = Path(tar_path)
    keys, error = _scan_keys(path)
    if error is not None:
        raise ShardCorruptError(path, *error, keys)
    return keys


@dataclass(frozen=True)
class ShardAgreement:
    """How a tar and its parquet index agree, key for key.

    Index rows count only when `status` is "success" (or there is no `status` column):
    img2dataset lists failed downloads in the parquet but never writes them to the tar.
    `ok` needs no missing or duplicate keys on either side and an undamaged tar; order
    is reported but not required.
    """

    ok: bool
    tar_count: int
    index_count: int
    missing_in_tar: list[str]
    missing_in_index: list[str]
    duplicates_in_tar: list[str]
    duplicates_in_index: list[str]
    same_order: bool
    tar_error: str | None  # "reason: detail" when the tar is damaged


def _duplicates(keys: list[str]) -> list[str]:
    return sorted(k for k, n in Counter(keys).items() if n > 1)


def compare_shard_index(tar_path: str | os.PathLike[str], parquet_path: str | os.PathLike[str]) -> ShardAgreement:
    """Compares the keys in a tar with the successful keys in its parquet index."""
    in_tar, error = _scan_keys(Path(tar_path))
    index = read_index(parquet_path)
    if "status" in index.columns:
        index = index[index["status"] == "success"]
    in_index = [str(k) for k in index["key"]]
    tar_set, index_set = set(in_tar), set(in_index)
    missing_in_tar = [k for k in in_index if k not in tar_set]
    missing_in_index = [k for k in in_tar if k not in index_set]
    duplicates_in_tar, duplicates_in_index = _duplicates(in_tar), _duplicates(in_index)
    ok = error is None and not (missing_in_tar or missing_in_index or duplicates_in_tar or duplicates_in_index)
    return ShardAgreement(
        ok=ok,
        tar_count=len(in_tar),
        index_count=len(in_index),
        missing_in_tar=missing_in_tar,
        missing_in_index=missing_in_index,
        duplicates_in_tar=duplicates_in_tar,
        duplicates_in_index=duplicates_in_index,
        same_order=in_tar == in_index,
        tar_error=None if error is None else f"{error[0]}: {error[1]}",
    )
