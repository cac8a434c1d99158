"""Sidecar parquets: a shard's synthetic captions, one row per key, beside (never inside) its tar.

`data/recaptioned/NNNNN.parquet`, columns as DESIGN.md gives them. The file's parquet
key-value metadata (`recap.sidecar`, JSON) records what made it: the source tar's size and
SHA-256, the captioner version, the sampling settings, counts, and the problems of the
shard that belong to no key. A sidecar is written under a temporary name and renamed when
complete (components/io/atomic.py, fsynced), so a file under the final name is always
whole; a rerun skips a shard whose sidecar matches its tar, captioner and settings.

While a shard is in progress its rows so far are saved, every `progress_every` images, to a
progress file beside the sidecar (`.NNNNN.progress.parquet`, hidden, also written
atomically): the rows with their place in the tar (POSITION), and in its metadata
(`recap.progress`) the source, the shard's problems so far and running totals. A rerun
resumes the shard from it; it is removed once the sidecar is written.

The sidecar folder may also be an object store (s3://, gs://): sidecar_store.py stages these
files locally and uploads them by components/io/store.py's atomic rule (a temporary key,
copied to the final key, then deleted: S3 and GCS have no rename). Whatever the store, a
sidecar is taken as finished only when it reads as a whole parquet whose metadata names its
shard by size and SHA-256, with the captioner and settings of the run (`sidecar_is_current`):
a partial write has no footer and is refused, a sidecar of another tar is redone. The readers
here take a local path or such a URL.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from components.io import store
from components.io.atomic import write_file_atomically
from components.io.hashing import file_sha256
from components.io.store import TEMP_MARK
from components.recaption.shard_keys import shard_keys

SIDECAR_FORMAT = 2  # 2: rows for index-only keys, notes on resized, converted and unindexed images
METADATA_KEY = b"recap.sidecar"
PROGRESS_FORMAT = 1
PROGRESS_KEY = b"recap.progress"
POSITION = "_position"  # a row's place in the tar: rows are sorted by it, then it is dropped before writing

SIDECAR_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("original_caption", pa.string()),  # null where the sample could not be read
        ("short_caption", pa.string()),  # null for status error
        ("long_caption", pa.string()),
        ("short_tokens", pa.int32()),  # generated tokens, type token and <eos> excluded
        ("long_tokens", pa.int32()),
        ("status", pa.string()),  # ok | error
        ("reason", pa.string()),  # why, for error rows; "cut at N tokens" notes for ok rows
        ("captioner_version", pa.string()),
        ("top_p", pa.float64()),
        ("temperature", pa.float64()),
        ("seed", pa.int64()),
    ]
)
COLUMNS = tuple(SIDECAR_SCHEMA.names)
PROGRESS_SCHEMA = SIDECAR_SCHEMA.append(pa.field(POSITION, pa.int64()))


def sidecar_path(out_dir: str | Path, tar_path: str | Path) -> Path:
    """data/recaptioned/NNNNN.parquet for data/web_shards/NNNNN.tar."""
    return Path(out_dir) / f"{Path(tar_path).stem}.parquet"


@dataclass(frozen=True)
class SourceInfo:
    """What a sidecar was made from; a rerun redoes the shard when any of it changed."""

    tar_name: str
    tar_bytes: int
    tar_sha256: str
    captioner_version: str
    sampling: dict[str, Any]  # top_p, temperature, seed, token limits

    @classmethod
    def of(cls, tar_path: str | Path, captioner_version: str, sampling: dict[str, Any]) -> SourceInfo:
        path = Path(tar_path)
        return cls(path.name, path.stat().st_size, file_sha256(path), captioner_version, dict(sampling))

    def to_dict(self) -> dict[str, Any]:
        return {
            "tar_name": self.tar_name,
            "tar_bytes": self.tar_bytes,
            "tar_sha256": self.tar_sha256,
            "captioner_version": self.captioner_version,
            "sampling": self.sampling,
        }


def write_sidecar(
    path: str | Path,
    rows: pd.DataFrame,
    source: SourceInfo,
    *,
    shard_problems: Sequence[tuple[str, str]] = (),
    extra: dict[str, Any] | None = None,
) -> Path:
    """Writes `rows` (COLUMNS, one row per key) atomically; returns the final path."""
    path = Path(path)
    missing = [c for c in COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"sidecar rows lack columns {missing}")
    duplicated = rows["key"][rows["key"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"sidecar rows repeat keys {duplicated[:5]}")
    bad_status = sorted(set(rows["status"]) - {"ok", "error"})
    if bad_status:
        raise ValueError(f"sidecar status must be 'ok' or 'error', got {bad_status}")
    table = pa.Table.from_pandas(rows[list(COLUMNS)], schema=SIDECAR_SCHEMA, preserve_index=False)
    info = {
        "format": SIDECAR_FORMAT,
        "source": source.to_dict(),
        "counts": dict(Counter(rows["status"])),
        "reasons": dict(Counter(r.split(":")[0] for r in rows.loc[rows["status"] == "error", "reason"])),
        "shard_problems": [list(p) for p in shard_problems],
        **(extra or {}),
    }
    return write_table_with_info(path, table, METADATA_KEY, info)


def write_table_with_info(path: str | Path, table: pa.Table, key: bytes, info: dict[str, Any]) -> Path:
    """`table` with `info` as JSON under `key` in its metadata, written atomically to `path`.
    The temporary, "<name>.partial-<pid>", is what remove_partial_sidecars finds by TEMP_MARK
    when a killed run left it."""
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), key: json.dumps(info)})
    return write_file_atomically(path, lambda tmp: pq.write_table(table, tmp), temp_suffix=f"{TEMP_MARK}{os.getpid()}")


def read_table_info(path: str | Path, key: bytes, what: str) -> dict[str, Any]:
    """The JSON that write_table_with_info put under `key`; ValueError naming the file when it is
    not a readable parquet or holds no such metadata (not a `what`)."""
    readable = _readable(path)  # a store that refuses: StoreError, never "not a parquet"
    try:
        metadata = pq.read_schema(readable).metadata or {}
    except (pa.ArrowInvalid, OSError) as error:
        raise ValueError(f"{str(path)!r} is not a readable parquet file: {error}") from error
    if key not in metadata:
        raise ValueError(f"{str(path)!r} has no {key.decode()} metadata: not a {what}")
    return json.loads(metadata[key])


def read_sidecar_info(path: str | Path) -> dict[str, Any]:
    """The `recap.sidecar` metadata of a sidecar; ValueError when the file is not one."""
    return read_table_info(path, METADATA_KEY, "recap sidecar")


def _readable(path: str | Path) -> str | Path | io.BytesIO:
    """A local path as it is; an object store URL's bytes, fetched through fsspec (StoreError
    naming the URL when the store refuses)."""
    return io.BytesIO(store.read_bytes(str(path))) if store.is_remote(path) else path


def read_sidecar(path: str | Path) -> pd.DataFrame:
    """A sidecar's rows, from a local path or an object store URL."""
    frame = pd.read_parquet(_readable(path))
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"sidecar {str(path)!r} lacks columns {missing}")
    return frame


def sidecar_is_current(path: str | Path, source: SourceInfo) -> bool:
    """True when a complete sidecar for exactly this tar, captioner and settings exists (a local
    path; sidecar_store.py downloads a store's sidecar before asking)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        info = read_sidecar_info(path)
    except ValueError:
        return False
    return info.get("format") == SIDECAR_FORMAT and info.get("source") == source.to_dict()


def remove_partial_sidecars(out_dir: str | Path, *, shard: str | None = None) -> list[Path]:
    """Deletes the temporary files of runs that were killed mid-write (sidecars' and progress
    files', both named with TEMP_MARK); returns them. Progress files themselves are kept: they
    are a killed run's work, resumed by the rerun. `shard` ("00003"): only that shard's, which
    its own writer may delete while other shards are being written beside it."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    names = None if shard is None else (sidecar_path(out_dir, shard).name, progress_path(out_dir, shard).name)
    removed = sorted(
        p for p in out_dir.iterdir() if TEMP_MARK in p.name and (names is None or p.name.startswith(names))
    )
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def progress_path(out_dir: str | Path, tar_path: str | Path) -> Path:
    """data/recaptioned/.NNNNN.progress.parquet for data/web_shards/NNNNN.tar (hidden: not a sidecar)."""
    return Path(out_dir) / f".{Path(tar_path).stem}.progress.parquet"


def write_progress(
    path: str | Path,
    rows: Sequence[dict[str, Any]],
    source: SourceInfo,
    *,
    problems: Sequence[tuple[int, str, str]],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Writes a shard's rows so far (COLUMNS and POSITION each) atomically, with the source,
    the shard's problems so far as (position, key, reason) and `extra` (running totals) in
    its `recap.progress` metadata; returns the final path."""
    table = pa.Table.from_pylist([{c: row.get(c) for c in PROGRESS_SCHEMA.names} for row in rows], PROGRESS_SCHEMA)
    info = {
        "format": PROGRESS_FORMAT,
        "source": source.to_dict(),
        "problems": [list(p) for p in problems],
        **(extra or {}),
    }
    return write_table_with_info(path, table, PROGRESS_KEY, info)


def read_progress(path: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows as write_progress got them, metadata) of a progress file; ValueError when it is not one."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ValueError(f"{str(path)!r} is not a readable parquet file: {error}") from error
    metadata = table.schema.metadata or {}
    if PROGRESS_KEY not in metadata or table.schema.names != PROGRESS_SCHEMA.names:
        raise ValueError(f"{str(path)!r} is not a recap progress file")
    return table.to_pylist(), json.loads(metadata[PROGRESS_KEY])


@dataclass(frozen=True)
class KeyAgreement:
    """How a sidecar's keys agree with its shard's keys, the tar's and its index's (the blocking check)."""

    ok: bool
    shard_keys: int
    sidecar_rows: int
    missing_in_sidecar: list[str]
    extra_in_sidecar: list[str]
    duplicates_in_sidecar: list[str]
    tar_damage: str | None  # "reason: detail" when the tar is truncated or corrupt

    def summary(self) -> str:
        if self.ok:
            return f"{self.sidecar_rows} rows for {self.shard_keys} keys"
        return (
            f"{len(self.missing_in_sidecar)} keys missing (e.g. {self.missing_in_sidecar[:3]}), "
            f"{len(self.extra_in_sidecar)} extra (e.g. {self.extra_in_sidecar[:3]}), "
            f"{len(self.duplicates_in_sidecar)} duplicated (e.g. {self.duplicates_in_sidecar[:3]})"
        )


def compare_sidecar_keys(sidecar: str | Path, tar_path: str | Path) -> KeyAgreement:
    expected = shard_keys(tar_path)
    keys, damage = expected.all, expected.damage
    rows = [str(k) for k in read_sidecar(sidecar)["key"]]
    in_rows, in_tar = set(rows), set(keys)
    duplicates = sorted(k for k, n in Counter(rows).items() if n > 1)
    missing = [k for k in keys if k not in in_rows]
    extra = [k for k in rows if k not in in_tar]
    return KeyAgreement(not (missing or extra or duplicates), len(keys), len(rows), missing, extra, duplicates, damage)
