"""A user's curated caption set, validated and split, written as the captioner's curated shards.

Two layouts are read:
- a folder of img2dataset shards (`NNNNN.tar` + `NNNNN.parquet`): each sample's
  `descriptive_caption` and `short_caption` come from its `.json` or from its index row
  (the `.txt` caption stands in for a missing short caption);
- a parquet file with columns `image` (a path, relative to the parquet's folder or
  absolute), `short_caption` and `descriptive_caption`, and optionally `key` and `split`.

Every row is validated before it is kept: both captions present and within their word
limits, the image readable and decodable under the pixel cap, the key usable as a shard
key and not seen before. A row that fails is left out and counted by reason (the report
lists the first keys of each), so one bad row loses only itself. Rows are split into train
and held-out by seed (a `split` column of "train"/"heldout" is kept as given), and written
to `out_dir` in the world's curated layout: the same shards the captioner trains on. The
user's files are only read. The images keep their bytes (a format other than jpg, png or
webp is re-encoded as PNG); the captioner's loader resizes them.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from components.data.image_decode import DEFAULT_MAX_PIXELS, TooManyPixels, decode_image
from components.data.shard_check import read_index
from components.data.shard_layout import IMAGE_EXTS, list_shards, validate_key
from components.data.shard_reader import ReadStats, read_shard
from components.data.shard_writer import ShardWriter
from components.text.words import word_count

SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class CuratedLimits:
    """What a kept row must satisfy."""

    short_max_words: int = 40
    descriptive_max_words: int = 300
    heldout_share: float = 0.1  # of the rows without a given split; at least 1 when there are 2 or more
    max_pixels: int = DEFAULT_MAX_PIXELS
    shard_size: int = 1000

    def __post_init__(self) -> None:
        if not 0.0 <= self.heldout_share < 1.0:
            raise ValueError(f"heldout_share must be in [0, 1), got {self.heldout_share}")


@dataclass
class CuratedImport:
    """What an import kept and left out."""

    shards: list[Path] = field(default_factory=list)
    splits: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> rows
    rejected_keys: dict[str, list[str]] = field(default_factory=dict)  # reason -> its first keys

    def reject(self, key: str, reason: str) -> None:
        self.rejected[reason] += 1
        keys = self.rejected_keys.setdefault(reason, [])
        if len(keys) < 20:
            keys.append(key)

    @property
    def kept(self) -> int:
        return sum(self.splits.values())


def _given(value: object) -> object:
    """None for a missing cell (None or pandas' NaN), else the value."""
    return None if value is None or (isinstance(value, float) and value != value) else value


@dataclass(frozen=True)
class _Row:
    key: str
    image: bytes
    ext: str
    short: object
    descriptive: object
    split: object = None


def _rows_from_shards(folder: Path, report: CuratedImport) -> Iterator[_Row]:
    for tar in list_shards(folder):
        index = tar.with_suffix(".parquet")
        by_key: dict[str, dict[str, Any]] = {}
        if index.is_file():
            frame = read_index(index)
            by_key = {str(r["key"]): r for r in frame.to_dict("records")}
        stats = ReadStats()
        for sample in read_shard(tar, stats=stats, decode=False):
            row = {**by_key.get(sample.key, {}), **sample.meta}
            short = _given(row.get("short_caption")) or sample.caption
            descriptive, split = _given(row.get("descriptive_caption")), _given(row.get("split"))
            yield _Row(sample.key, sample.image, sample.ext, short, descriptive, split)
        for key, reason in stats.skipped_keys:
            report.reject(key, reason)


def _rows_from_parquet(path: Path, report: CuratedImport) -> Iterator[_Row]:
    frame = pd.read_parquet(path)
    required = {"image", "short_caption", "descriptive_caption"}
    if missing := sorted(required - set(frame.columns)):
        raise ValueError(f"curated parquet {str(path)!r} lacks column(s) {missing}; it has {sorted(frame.columns)}")
    for position, row in enumerate(frame.to_dict("records")):
        key = str(row["key"]) if _given(row.get("key")) is not None else f"{position:09d}"
        image_path = Path(str(row["image"])).expanduser()
        image_path = image_path if image_path.is_absolute() else path.parent / image_path
        try:
            data = image_path.read_bytes()
        except OSError as error:
            report.reject(key, f"missing_image: {type(error).__name__}")
            continue
        ext = image_path.suffix.lower().lstrip(".")
        short, descriptive = _given(row["short_caption"]), _given(row["descriptive_caption"])
        yield _Row(key, data, ext, short, descriptive, _given(row.get("split")))


def read_user_curated(location: Path, report: CuratedImport) -> Iterator[_Row]:
    """The rows of a user's curated set, as its layout gives them; fails naming a location that is neither."""
    if location.is_dir():
        if not list_shards(location):
            raise ValueError(f"curated set {str(location)!r} holds no img2dataset shards (NNNNN.tar + NNNNN.parquet)")
        return _rows_from_shards(location, report)
    if location.is_file() and location.suffix == ".parquet":
        return _rows_from_parquet(location, report)
    what = "does not exist" if not location.exists() else "is neither a folder of shards nor a .parquet file"
    raise ValueError(f"curated set {str(location)!r} {what}")


def row_problem(row: _Row, limits: CuratedLimits, seen: set[str]) -> str | None:
    """Why `row` cannot be kept, or None."""
    try:
        validate_key(row.key)
    except ValueError:
        return "bad_key"
    if row.key in seen:
        return "duplicate_key"
    for name, caption, most in (
        ("short_caption", row.short, limits.short_max_words),
        ("descriptive_caption", row.descriptive, limits.descriptive_max_words),
    ):
        if not isinstance(caption, str) or not caption.strip():
            return f"missing_{name}"
        if word_count(caption) > most:
            return f"{name}_too_long: {word_count(caption)} words > {most}"
    if row.split is not None and row.split not in SPLITS:
        return f"bad_split: {row.split!r}"
    try:
        decode_image(row.image, 8, limits.max_pixels)
    except TooManyPixels:
        return "too_many_pixels"
    except Exception as error:  # untrusted bytes: PIL raises an open-ended set of types
        return f"undecodable_image: {type(error).__name__}"
    return None


def _encoded(row: _Row) -> tuple[bytes, str]:
    """The image bytes and extension to store: as given when jpg/png/webp, else re-encoded as PNG."""
    if row.ext in IMAGE_EXTS:
        with Image.open(io.BytesIO(row.image)) as image:
            if image.format == {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[row.ext]:
                return row.image, row.ext
    with Image.open(io.BytesIO(row.image)) as image:
        buffer = io.BytesIO()
        image.convert("RGBA" if "A" in image.getbands() else "RGB").save(buffer, format="PNG")
    return buffer.getvalue(), "png"


def assign_splits(keys: list[str], given: dict[str, str], seed: int, heldout_share: float) -> dict[str, str]:
    """Each key's split: the given one, else held-out for the `heldout_share` of the others
    that come first when ordered by a hash of (seed, key), so a seed always picks the same rows."""
    free = sorted((k for k in keys if k not in given), key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).digest())
    heldout = round(len(free) * heldout_share)
    if heldout_share > 0 and heldout == 0 and len(free) >= 2:
        heldout = 1
    splits = {k: "heldout" if i < heldout else "train" for i, k in enumerate(free)}
    return {**splits, **given}


def import_user_curated(location: Path, out_dir: Path, *, seed: int, limits: CuratedLimits) -> CuratedImport:
    """Validates the user's curated set at `location`, splits it by `seed` and writes it to
    `out_dir` as curated shards (NNNNN.tar + .parquet); fails when no row can train or judge."""
    report = CuratedImport()
    kept: list[_Row] = []
    seen: set[str] = set()
    for row in read_user_curated(location, report):
        if problem := row_problem(row, limits, seen):
            report.reject(row.key, problem)
            continue
        seen.add(row.key)
        kept.append(row)
    given = {r.key: str(r.split) for r in kept if r.split is not None}
    splits = assign_splits([r.key for r in kept], given, seed, limits.heldout_share)
    counts = Counter(splits.values())
    if counts["train"] == 0:
        raise ValueError(
            f"curated set {str(location)!r}: no row can be trained on ({len(kept)} kept, "
            f"rejected: {dict(report.rejected)})"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(kept), limits.shard_size):
        tar = out_dir / f"{start // limits.shard_size:05d}.tar"
        with ShardWriter(tar, extra_columns=("short_caption", "split")) as writer:
            for row in kept[start : start + limits.shard_size]:
                image, ext = _encoded(row)
                short, descriptive = str(row.short).strip(), str(row.descriptive).strip()
                meta = {
                    "key": row.key,
                    "caption": descriptive,
                    "short_caption": short,
                    "descriptive_caption": descriptive,
                    "split": splits[row.key],
                }
                writer.write(row.key, image, descriptive, meta, ext=ext, short_caption=short, split=splits[row.key])
        report.shards.append(tar)
    report.splits.update(counts)
    return report
