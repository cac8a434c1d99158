"""WebDataset shards in img2dataset's layout: write them atomically, read them defensively.

A shard is `NNNNN.tar` beside `NNNNN.parquet`. The tar holds, per sample and consecutively,
`{key}.{png|jpg|jpeg|webp}` (encoded image), `{key}.txt` (caption, UTF-8) and `{key}.json`
(metadata, a JSON object with at least `key`, `caption`, `width`, `height`). The parquet
lists one row per key with img2dataset's columns (`key`, `caption`, `status`,
`error_message`, `width`, `height`, `original_width`, `original_height`, `sha256`) plus any
extra scalar columns. A user's own img2dataset output reads unchanged: extra parquet
columns (`url`, `exif`, ...) are kept, and index rows whose `status` is not "success"
(failed downloads, which img2dataset lists but never puts in the tar) are not expected in
the tar.

Reading semantics, chosen to match img2dataset:
- the caption is the `.txt` member; a sample without one is skipped as `missing_caption`
  even when its json holds a `caption` (img2dataset always writes the `.txt`, possibly
  empty, so its absence means a damaged sample; an empty `.txt` is a valid empty caption);
- the `.json` member is required (img2dataset always writes it): `missing_json` otherwise;
- a member's key is its path up to the first "." of its last component (webdataset's
  rule), so writer keys may not contain "."; members with other extensions are ignored.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from components.io.atomic import fsync_dir, fsync_file

logger = logging.getLogger("recap.shards")

IMAGE_EXTS = ("png", "jpg", "jpeg", "webp")
# PIL's format name for each extension, so the writer can refuse bytes that lie about it.
_PIL_FORMAT = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}

# Every reason a sample (or member, or the tail of a shard) is skipped, for docs and tests.
SKIP_REASONS = (
    "truncated_tar",  # the file ends inside a member or before the end-of-archive block
    "corrupt_tar",  # a header that is not a tar header (or the file is not a tar at all)
    "unsafe_member",  # absolute path, '..', or not a regular file (link, device, fifo)
    "duplicate_key",  # a key seen earlier in the shard, in a non-consecutive group
    "duplicate_member",  # a sample with two members of one extension, or two images
    "missing_image",
    "missing_caption",
    "missing_json",
    "zero_byte_image",
    "non_utf8_caption",
    "unreadable_json",  # not JSON, not UTF-8, or not a JSON object
    "undecodable_image",
    "wrong_image_size",  # only checked when `expected_size` is given
)

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
_BLOCK = tarfile.BLOCKSIZE


def shard_name(index: int) -> str:
    """The 5-digit stem of shard `index`: 0 -> "00000"."""
    if index < 0:
        raise ValueError(f"shard index must be >= 0, got {index}")
    return f"{index:05d}"


def shard_index(name: str) -> int:
    """The index of the shard named `name`, shard_name's inverse: "00003" -> 3. Fails naming
    `name` when no index has it as shard_name."""
    if not (isinstance(name, str) and name.isascii() and name.isdigit() and shard_name(int(name)) == name):
        raise ValueError(f"{name!r} is not a shard name (5 or more digits, as shard_name writes: '00003')")
    return int(name)


def list_shards(directory: str | os.PathLike[str]) -> list[Path]:
    """The `.tar` files directly in `directory`, sorted by name (temporaries, which start
    with ".", are not shards)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"shard directory {str(directory)!r} does not exist")
    return sorted(p for p in directory.iterdir() if p.suffix == ".tar" and not p.name.startswith(".") and p.is_file())


def validate_key(key: str) -> None:
    """Raises ValueError naming `key` unless it can round-trip as a member-name prefix."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"sample key must be a non-empty string, got {key!r}")
    # '/' and '..' would escape or nest; any '.' would move webdataset's key/extension split.
    for bad in ("/", "\\", ".", "\x00"):
        if bad in key:
            raise ValueError(f"sample key {key!r} contains {bad!r}")


# ----------------------------------------------------------------------------- writing


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


# ----------------------------------------------------------------------------- reading


@dataclass
class ReadStats:
    """Counts of what `read_shard` yielded and skipped; pass one across shards or merge."""

    read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_keys: list[tuple[str, str]] = field(default_factory=list)  # (key or member, reason)

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def skip(self, key: str, reason: str) -> None:
        self.skipped[reason] += 1
        self.skipped_keys.append((key, reason))

    def merge(self, other: ReadStats) -> ReadStats:
        """Adds `other` into this one (in place) and returns it."""
        self.read += other.read
        self.skipped.update(other.skipped)
        self.skipped_keys.extend(other.skipped_keys)
        return self


# A sample's image: np.ndarray when decoded, bytes when read with decode=False.
ImageT = TypeVar("ImageT", np.ndarray, bytes)


@dataclass(frozen=True, slots=True)
class Sample(Generic[ImageT]):
    key: str
    # (H, W, 3) uint8 RGB when decoded (read-only: np.asarray over PIL's buffer, copy
    # before writing in place), else the encoded bytes.
    image: ImageT
    caption: str
    meta: dict[str, Any]
    ext: str  # the image member's extension, lower case: png, jpg, jpeg or webp


def _split_name(name: str) -> tuple[str, str]:
    """webdataset's rule: key is the path up to the first '.' of the last component."""
    slash = name.rfind("/") + 1
    dot = name.find(".", slash)
    if dot < 0:
        return name, ""
    return name[:dot], name[dot + 1 :].lower()


def _unsafe(member: tarfile.TarInfo) -> str | None:
    """Why a member must not be read, or None. Only plain regular files pass; a directory
    entry returns "directory" (harmless, skipped without being counted)."""
    name = member.name
    if name.startswith(("/", "\\")) or (name[1:2] == ":" and name[:1].isalpha()):  # root or drive
        return "absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "'..' in path"
    if member.isdir():
        return "directory"
    # REGTYPE/AREGTYPE/CONTTYPE only: isreg() also admits GNU sparse files, whose raw data
    # is not the file's bytes.
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
        return f"not a regular file (tar type {member.type!r})"
    return None


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        # Other modes go through PIL's convert('RGB'): grey is replicated, palettes expanded,
        # alpha dropped (not composited onto a background), 16-bit values clipped.
        rgb = img if img.mode == "RGB" else img.convert("RGB")
        return np.asarray(rgb)


def _image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:  # header only, no pixel decode
        return img.size


class _Shard:
    """One pass over a tar's headers, in stream mode, remembering how it ended."""

    def __init__(self, path: Path, f: io.BufferedReader) -> None:
        self.path = path
        self.f = f
        self.error: tuple[str, str] | None = None  # (reason, detail) when the tar is damaged
        self.tar: tarfile.TarFile | None = None
        try:
            # "r|": a forward-only stream. Only the current header and member are in memory.
            self.tar = tarfile.open(fileobj=f, mode="r|")
        except tarfile.ReadError as error:
            self.error = self._classify_open_error(error)

    def _classify_open_error(self, error: tarfile.ReadError) -> tuple[str, str]:
        size = os.fstat(self.f.fileno()).st_size
        if size < _BLOCK:
            return "truncated_tar", f"{size} bytes, shorter than one tar header ({error})"
        return "corrupt_tar", f"not a tar: {error}"

    def members(self) -> Iterator[tarfile.TarInfo]:
        tar = self.tar
        if tar is None:
            return
        while True:
            try:
                member = tar.next()
            except tarfile.ReadError as error:
                # Raised when the data of the member before ends early, or on a bad
                # extended (PAX/GNU) header.
                short = os.fstat(self.f.fileno()).st_size < tar.offset + _BLOCK
                self.error = ("truncated_tar" if short else "corrupt_tar", f"at offset {tar.offset}: {error}")
                return
            # tarfile keeps every header it has read; dropping them keeps memory flat
            # however many members the shard has (webdataset's tariterators does the same).
            tar.members = []  # pyright: ignore[reportAttributeAccessIssue]  # typeshed omits TarFile.members
            if member is None:
                self._check_end(tar.offset)
                return
            yield member

    def read(self, member: tarfile.TarInfo) -> bytes | None:
        """The current member's bytes (stream mode: only the member just yielded)."""
        assert self.tar is not None
        # The raw stream is positioned at the member's data; reading it directly skips
        # tarfile's per-member file-object wrappers.
        data = self.tar.fileobj.read(member.size)
        if len(data) != member.size:
            self.error = ("truncated_tar", f"member {member.name!r} has {len(data)} of {member.size} bytes")
            return None
        return data

    def _check_end(self, offset: int) -> None:
        # tarfile ends iteration quietly on a short or invalid header after the first one;
        # look at the block it stopped on to tell a proper end-of-archive from damage.
        self.f.seek(offset)
        block = self.f.read(_BLOCK)
        if len(block) < _BLOCK:
            self.error = ("truncated_tar", f"no end-of-archive block at offset {offset}")
        elif block.count(0) != _BLOCK:
            self.error = ("corrupt_tar", f"invalid tar header at offset {offset}")


def _skip(stats: ReadStats, shard: Path, key: str, reason: str, detail: str) -> None:
    stats.skip(key, reason)
    logger.warning("%s: skipped %r: %s (%s)", shard.name, key, reason, detail)


@overload
def read_shard(
    tar_path: str | os.PathLike[str],
    *,
    stats: ReadStats | None = None,
    expected_size: tuple[int, int] | None = None,
    decode: Literal[True] = True,
) -> Iterator[Sample[np.ndarray]]: ...


@overload
def read_shard(
    tar_path: str | os.PathLike[str],
    *,
    stats: ReadStats | None = None,
    expected_size: tuple[int, int] | None = None,
    decode: Literal[False],
) -> Iterator[Sample[bytes]]: ...


@overload
def read_shard(
    tar_path: str | os.PathLike[str],
    *,
    stats: ReadStats | None = None,
    expected_size: tuple[int, int] | None = None,
    decode: bool = True,
) -> Iterator[Sample[np.ndarray] | Sample[bytes]]: ...


def read_shard(
    tar_path: str | os.PathLike[str],
    *,
    stats: ReadStats | None = None,
    expected_size: tuple[int, int] | None = None,
    decode: bool = True,
) -> Iterator[Sample[np.ndarray] | Sample[bytes]]:
    """Streams the samples of one shard, skipping (counting in `stats`, logging to
    "recap.shards") every damaged sample; see SKIP_REASONS.

    Memory stays bounded by one sample: the tar is read forward once, never listed, and
    nothing is extracted to disk. A sample is yielded once the next key's first header is
    read. `expected_size` is (width, height). With `decode=False`, `image` is the encoded
    bytes and only the image header is checked (so corrupt pixel data goes unnoticed).

    A truncated or corrupt tar yields the samples before the damage and counts one
    `truncated_tar`/`corrupt_tar` against the key of the sample it cut (that sample is lost,
    even if it looked complete, since more of its members may have followed), or against
    the shard's file name if no sample was pending. A missing file raises FileNotFoundError.
    """
    path = Path(tar_path)
    stats = stats if stats is not None else ReadStats()
    seen: set[str] = set()
    with open(path, "rb") as f:
        shard = _Shard(path, f)
        group_key: str | None = None
        files: dict[str, bytes] = {}
        bad: tuple[str, str] | None = None  # (reason, detail) once the group is known bad
        for member in shard.members():
            why = _unsafe(member)
            if why is not None:
                if why != "directory":  # a plain directory entry is not a sample, nor damage
                    _skip(stats, path, member.name, "unsafe_member", why)
                continue
            key, ext = _split_name(member.name)
            if key != group_key:
                if group_key is not None:
                    sample = _finish(path, group_key, files, bad, stats, expected_size, decode)
                    if sample is not None:
                        yield sample
                group_key, files, bad = key, {}, None
                if key in seen:
                    bad = ("duplicate_key", "key already seen earlier in this shard")
                seen.add(key)
            if bad is not None or (ext not in IMAGE_EXTS and ext not in ("txt", "json")):
                continue  # no need to read data of a sample already lost, or of unknown kinds
            if ext in files or (ext in IMAGE_EXTS and any(e in files for e in IMAGE_EXTS)):
                bad = ("duplicate_member", f"second {ext!r} member")
                continue
            data = shard.read(member)
            if data is None:
                break
            files[ext] = data
        if shard.error is not None:
            reason, detail = shard.error
            _skip(stats, path, group_key if group_key is not None else path.name, reason, detail)
        elif group_key is not None:
            sample = _finish(path, group_key, files, bad, stats, expected_size, decode)
            if sample is not None:
                yield sample


def _finish(
    path: Path,
    key: str,
    files: dict[str, bytes],
    bad: tuple[str, str] | None,
    stats: ReadStats,
    expected_size: tuple[int, int] | None,
    decode: bool,
) -> Sample[np.ndarray] | Sample[bytes] | None:
    """Checks one complete group of members; returns the Sample or counts why not."""
    if bad is not None:
        _skip(stats, path, key, *bad)
        return None
    ext = next((e for e in IMAGE_EXTS if e in files), None)
    # Cheap checks first; the pixel decode runs only for samples that pass the rest.
    if ext is None:
        _skip(stats, path, key, "missing_image", f"members: {sorted(files)}")
        return None
    if "txt" not in files:
        _skip(stats, path, key, "missing_caption", "no .txt member")
        return None
    if "json" not in files:
        _skip(stats, path, key, "missing_json", "no .json member")
        return None
    data = files[ext]
    if not data:
        _skip(stats, path, key, "zero_byte_image", f".{ext} member is empty")
        return None
    try:
        caption = files["txt"].decode("utf-8")
    except UnicodeDecodeError as error:
        _skip(stats, path, key, "non_utf8_caption", str(error))
        return None
    try:
        meta = json.loads(files["json"])
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        _skip(stats, path, key, "unreadable_json", str(error))
        return None
    if not isinstance(meta, dict):
        _skip(stats, path, key, "unreadable_json", f"json is a {type(meta).__name__}, not an object")
        return None
    image: np.ndarray | bytes
    try:
        if decode:
            image = _decode(data)
            size = (image.shape[1], image.shape[0])
        else:
            image = data
            size = _image_size(data)
    except Exception as error:
        # Image bytes are untrusted and PIL raises an open-ended set of types on bad data
        # (OSError, SyntaxError, ValueError, struct.error, DecompressionBombError, ...).
        _skip(stats, path, key, "undecodable_image", f"{type(error).__name__}: {error}")
        return None
    if expected_size is not None and tuple(size) != tuple(expected_size):
        _skip(stats, path, key, "wrong_image_size", f"(width, height) {size}, expected {tuple(expected_size)}")
        return None
    stats.read += 1
    if isinstance(image, np.ndarray):  # two calls, so each Sample's image type is known
        return Sample(key, image, caption, meta, ext)
    return Sample(key, image, caption, meta, ext)


# ----------------------------------------------------------------------------- index checks


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
        shard = _Shard(path, f)
        for member in shard.members():
            if _unsafe(member) is not None:
                continue
            key, _ = _split_name(member.name)
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
