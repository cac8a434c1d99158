"""Asset metadata shown in the Dagster UI: sample grids, statistics, DVC hashes."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dagster import MetadataValue
from PIL import Image

from components.data.preview import png_bytes, sample_grid
from components.data.shard_summary import ShardSummary
from components.io.hashing import dir_md5, file_md5


def preview_grid(summary: ShardSummary) -> Image.Image:
    return sample_grid(summary.preview_images, summary.preview_captions)


def grid_markdown(grid: Image.Image, title: str) -> MetadataValue:
    """A grid as one inline PNG (the UI renders data URIs in markdown)."""
    encoded = base64.b64encode(png_bytes(grid)).decode()
    return MetadataValue.md(f"**{title}**\n\n![{title}](data:image/png;base64,{encoded})")


def table_cell(text: str) -> str:
    """One line, no pipes: captions (and model output) may hold newlines or "|"."""
    return " ".join(text.split()).replace("|", "/")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> MetadataValue:
    """A markdown table: the header line, the rule, one line per row; every cell is `str()`ed
    and passed through table_cell, so no caption can break the table."""

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(table_cell(str(cell)) for cell in cells) + " |"

    return MetadataValue.md("\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)]))


def captions_table(summary: ShardSummary, fields: tuple[str, ...] = ("caption",)) -> MetadataValue:
    """The preview samples' captions as a markdown table, one column per field."""
    rows = [
        [key, *(meta.get(name, "") for name in fields)]
        for key, meta in zip(summary.preview_keys, summary.preview_meta, strict=False)
    ]
    return markdown_table(["key", *fields], rows)


def summary_metadata(summary: ShardSummary) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "samples": MetadataValue.int(summary.samples),
        "skipped": MetadataValue.int(sum(summary.skipped.values())),
        "skipped_by_reason": MetadataValue.json(summary.skipped),
        "counts": MetadataValue.json(summary.counts),
    }
    for name, value in summary.caption_stats.items():
        metadata[name] = MetadataValue.float(float(value))
    return metadata


DVC_DIR_MD5 = "dvc_dir_md5"  # the output directory's hash, as dvc.lock records it
DVC_FILE_MD5 = "dvc_md5[{name}]"  # one file's hash; the file lies directly in the directory at PATH
PATH = "path"  # the directory hashed; recap_dagster/defs/drift.py rehashes what these keys name


def dvc_metadata(directory: Path, files: list[Path] | None = None) -> dict[str, Any]:
    """The DVC hashes of what was written: per file, and of the whole output directory."""
    metadata: dict[str, Any] = {DVC_DIR_MD5: MetadataValue.text(dir_md5(directory))}
    return {**metadata, **dvc_file_metadata(directory, files or [])}


def dvc_file_metadata(directory: Path, files: list[Path]) -> dict[str, Any]:
    """The DVC hashes of `files` (each directly in `directory`) without the directory's: what a
    partition records that writes a few files into a folder every partition shares (a sidecar
    per shard), where hashing the whole folder per partition would cost more than its files."""
    metadata: dict[str, Any] = {}
    for path in files:
        metadata[DVC_FILE_MD5.format(name=path.name)] = MetadataValue.text(file_md5(path))
    metadata[PATH] = MetadataValue.path(str(directory))
    return metadata
