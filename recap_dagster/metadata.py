"""Asset metadata shown in the Dagster UI: sample grids, statistics, DVC hashes."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from dagster import MetadataValue, TableColumn, TableMetadataValue, TableRecord, TableSchema
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


def table_cell(value: object) -> str | int | float | bool | None:
    """A value a table record can hold: numbers and bools stay typed (a reader of the
    materialization gets numbers back), None and NaN stay empty, text is kept on one line, anything else (a dict of
    shares, a list) becomes its compact JSON. numpy scalars (pandas' cells) count as numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return " ".join(value.split())
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)


def column_type(values: Sequence[object]) -> str:
    """Dagster's column type for a column of table_cell values (empty cells aside): `bool`,
    `int`, `float` (ints and floats mixed) or `string`. By exact type: a bool is not an int."""
    kinds = {type(value) for value in values if value is not None}
    if kinds == {bool}:
        return "bool"
    if kinds == {int}:
        return "int"
    if kinds and kinds <= {int, float}:
        return "float"
    return "string"


def metadata_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> TableMetadataValue:
    """A typed table (Dagster's table metadata: the UI shows it in place, **Show schema**
    lists the column types). Every row has one cell per header name; a column of mixed kinds
    becomes text."""
    if len(set(header)) != len(header):
        raise ValueError(f"a table's column names repeat: {list(header)}")
    cells = [[table_cell(value) for value in row] for row in rows]
    for row in cells:
        if len(row) != len(header):
            raise ValueError(f"a table row has {len(row)} cells for {len(header)} columns {list(header)}: {row}")
    types = [column_type([row[i] for row in cells]) for i in range(len(header))]
    records = [
        TableRecord(
            data={
                name: (str(value) if kind == "string" and value is not None else value)
                for name, kind, value in zip(header, types, row, strict=True)
            }
        )
        for row in cells
    ]
    schema = TableSchema(columns=[TableColumn(name=name, type=kind) for name, kind in zip(header, types, strict=True)])
    return MetadataValue.table(records=records, schema=schema)


def captions_table(summary: ShardSummary, fields: tuple[str, ...] = ("caption",)) -> TableMetadataValue:
    """The preview samples' captions as a table, one column per field."""
    rows = [
        [key, *(meta.get(name, "") for name in fields)]
        for key, meta in zip(summary.preview_keys, summary.preview_meta, strict=False)
    ]
    return metadata_table(["key", *fields], rows)


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
