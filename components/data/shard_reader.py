"""Streams a shard's samples (layout: shard_layout.py) and skips, counts and logs every
damaged one instead of failing; the good samples around the damage still come out.

Reading semantics, chosen to match img2dataset:
- the caption is the `.txt` member; a sample without one is skipped as `missing_caption`
  even when its json holds a `caption` (img2dataset always writes the `.txt`, possibly
  empty, so its absence means a damaged sample; an empty `.txt` is a valid empty caption);
- the `.json` member is required (img2dataset always writes it): `missing_json` otherwise;
- members are grouped into samples by key (shard_layout.split_member_name, webdataset's
  rule); a member whose extension is none of IMAGE_EXTS, txt or json is ignored.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, overload

import numpy as np
from PIL import Image

from components.data.shard_layout import IMAGE_EXTS, split_member_name
from components.data.shard_tar import TarStream, unsafe_reason

logger = logging.getLogger("recap.shards")

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
        shard = TarStream(path, f)
        group_key: str | None = None
        files: dict[str, bytes] = {}
        bad: tuple[str, str] | None = None  # (reason, detail) once the group is known bad
        for member in shard.members():
            why = unsafe_reason(member)
            if why is not None:
                if why != "directory":  # a plain directory entry is not a sample, nor damage
                    _skip(stats, path, member.name, "unsafe_member", why)
                continue
            key, ext = split_member_name(member.name)
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
