"""Writes one shard in img2dataset's layout (shard_layout.py), atomically and byte for byte
the same from the same inputs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from components.data.shard_layout import IMAGE_EXTS, validate_key
from components.io.atomic import fsync_dir, fsync_file

# PIL's format name for each extension, so the writer can refuse bytes that lie about it.
_PIL_FORMAT = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}

# img2dataset's parquet columns and their types, in its order.
INDEX_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("caption", pa.string()),
        ("status", pa.string()),
        ("error_message", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("original_width", pa.int64()),
        ("original_height", pa.int64()),
        ("sha256", pa.string()),
    ]
)

# Fixed member attributes so the same inputs give byte-identical tars.
_TAR_MTIME = 0
_TAR_MODE = 0o644


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, bytes))


class ShardWriter:
    """Writes one shard: `with ShardWriter(dir / "00000.tar") as w: w.write(...)`.

    Both files are written under temporary names in the shard's directory and renamed into
    place only when the `with` block exits cleanly: an old parquet is removed first, then the
    tar renamed, then the parquet, so a parquet only ever sits beside the tar it indexes
    (a complete parquet marks a complete shard). Both files are fsynced before the renames,
    the directory after each step, so this holds across a crash too. On an exception the
    temporaries are removed and a previous shard at the same path is left untouched.

    `extra_columns` names scalar parquet columns that every `write` must supply as keyword
    arguments (they go to the parquet only; put them in `meta` too to have them in the json).
    """

    def __init__(self, tar_path: str | os.PathLike[str], *, extra_columns: Sequence[str] = ()) -> None:
        self.tar_path = Path(tar_path)
        if self.tar_path.suffix != ".tar":
            raise ValueError(f"shard path must end in .tar, got {str(self.tar_path)!r}")
        self.index_path = self.tar_path.with_suffix(".parquet")
        self.extra_columns = tuple(extra_columns)
        clash = set(self.extra_columns) & set(INDEX_SCHEMA.names)
        if clash:
            raise ValueError(f"extra columns {sorted(clash)} clash with img2dataset's columns")
        if len(set(self.extra_columns)) != len(self.extra_columns):
            raise ValueError(f"extra columns repeat a name: {list(self.extra_columns)}")
        self._rows: dict[str, list[Any]] = {name: [] for name in (*INDEX_SCHEMA.names, *self.extra_columns)}
        self._keys: set[str] = set()
        self._entered = False
        self._file: io.BufferedWriter | None = None
        self._tar: tarfile.TarFile | None = None
        self._tmp_tar: Path | None = None
        self._tmp_index: Path | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def __enter__(self) -> ShardWriter:
        if self._entered:
            raise RuntimeError(f"ShardWriter for {str(self.tar_path)!r} is not reusable")
        self._entered = True
        self.tar_path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_tar = self._temp_path(".tar")
        # We own the file, so on failure it can be dropped without tarfile writing more.
        self._file = open(self._tmp_tar, "wb")
        # PAX handles long names; with integer mtimes it adds no time-dependent headers.
        self._tar = tarfile.open(fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT)
        return self

    def _temp_path(self, suffix: str) -> Path:
        # A unique hidden name in the same directory, so os.replace is an atomic rename
        # and list_shards never mistakes it for a shard.
        fd, name = tempfile.mkstemp(prefix=f".{self.tar_path.stem}.", suffix=f"{suffix}.tmp", dir=self.tar_path.parent)
        os.close(fd)
        os.chmod(name, _TAR_MODE)  # mkstemp makes 0600; shards are meant to be shared
        return Path(name)

    def _add(self, name: str, data: bytes) -> None:
        assert self._tar is not None
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = _TAR_MTIME
        info.mode = _TAR_MODE
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        self._tar.addfile(info, io.BytesIO(data))

    def write(
        self, key: str, image: bytes, caption: str, meta: dict[str, Any], ext: str = "png", **columns: Any
    ) -> None:
        """Adds one sample. `image` is already-encoded bytes in format `ext`; `meta` becomes
        the `.json` (with `key`, `caption`, `width`, `height` filled in from the arguments and
        the image header; values already in `meta` must agree). `original_width` and
        `original_height` for the parquet come from `meta` when present, else the image size.
        """
        if self._tar is None:
            raise RuntimeError("ShardWriter.write called outside its `with` block")
        validate_key(key)
        if key in self._keys:
            raise ValueError(f"sample key {key!r} already written to {self.tar_path.name}")
        if ext not in IMAGE_EXTS:
            raise ValueError(f"sample {key!r}: image extension {ext!r} not one of {IMAGE_EXTS}")
        if not isinstance(image, (bytes, bytearray, memoryview)) or len(image) == 0:
            raise ValueError(f"sample {key!r}: image must be non-empty encoded bytes")
        if not isinstance(caption, str):
            raise ValueError(f"sample {key!r}: caption must be str, got {type(caption).__name__}")
        if not isinstance(meta, dict):
            raise ValueError(f"sample {key!r}: meta must be a dict, got {type(meta).__name__}")
        if set(columns) != set(self.extra_columns):
            raise ValueError(
                f"sample {key!r}: columns {sorted(columns)} differ from the declared extra columns "
                f"{sorted(self.extra_columns)}"
            )
        for name, value in columns.items():
            if not _is_scalar(value):
                raise ValueError(f"sample {key!r}: column {name!r} must be a scalar, got {type(value).__name__}")
        image = bytes(image)
        # The header alone gives format and size: no pixel decode on the write path.
        try:
            with Image.open(io.BytesIO(image)) as probe:
                fmt, (width, height) = probe.format, probe.size
        except Exception as error:  # PIL raises many types on bad bytes; we re-raise as one
            raise ValueError(f"sample {key!r}: image bytes are not a readable image: {error}") from error
        if fmt != _PIL_FORMAT[ext]:
            raise ValueError(f"sample {key!r}: image bytes are {fmt}, but ext is {ext!r}")
        record = dict(meta)
        for name, value in (("key", key), ("caption", caption), ("width", width), ("height", height)):
            if name in record and record[name] != value:
                raise ValueError(f"sample {key!r}: meta[{name!r}]={record[name]!r} disagrees with {value!r}")
            record[name] = value
        meta_bytes = json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8")

        # Members in sorted-extension order, as webdataset's TarWriter (img2dataset) writes.
        members = sorted([(ext, image), ("json", meta_bytes), ("txt", caption.encode("utf-8"))])
        for member_ext, data in members:
            self._add(f"{key}.{member_ext}", data)

        self._keys.add(key)
        row = {
            "key": key,
            "caption": caption,
            "status": "success",
            "error_message": None,
            "width": width,
            "height": height,
            "original_width": int(record.get("original_width", width)),
            "original_height": int(record.get("original_height", height)),
            "sha256": hashlib.sha256(image).hexdigest(),
            **columns,
        }
        for name, value in row.items():
            self._rows[name].append(value)

    def _index_table(self) -> pa.Table:
        arrays = [pa.array(self._rows[f.name], type=f.type) for f in INDEX_SCHEMA]
        names = list(INDEX_SCHEMA.names)
        for name in self.extra_columns:
            try:
                arrays.append(pa.array(self._rows[name]))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
                raise ValueError(f"extra column {name!r} mixes types that parquet cannot hold: {error}") from error
            names.append(name)
        return pa.Table.from_arrays(arrays, names=names)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tar is not None and self._file is not None and self._tmp_tar is not None  # set by __enter__
        tar, file = self._tar, self._file
        self._tar = self._file = None
        try:
            if exc_type is not None:
                return  # the temporaries go in `finally`; the exception propagates
            tar.close()  # writes the end-of-archive blocks; leaves our file open
            file.flush()
            os.fsync(file.fileno())
            file.close()
            self._tmp_index = self._temp_path(".parquet")
            pq.write_table(self._index_table(), self._tmp_index)
            fsync_file(self._tmp_index)
            # Old parquet out first: a crash between the renames then leaves a tar without a
            # parquet (incomplete) rather than a new tar beside an old index. Each step is made
            # durable (fsync_dir) before the next, so a crash cannot keep a later step and lose
            # an earlier one.
            directory = self.tar_path.parent
            if self.index_path.exists():
                self.index_path.unlink()
                fsync_dir(directory)
            os.replace(self._tmp_tar, self.tar_path)
            self._tmp_tar = None
            fsync_dir(directory)
            os.replace(self._tmp_index, self.index_path)
            self._tmp_index = None
            fsync_dir(directory)
        finally:
            file.close()
            for tmp in (self._tmp_tar, self._tmp_index):
                if tmp is not None:
                    tmp.unlink(missing_ok=True)
