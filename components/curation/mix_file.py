"""A mix manifest on disk, data/mix/<spec>.parquet: the manifest's rows (key, shard, caption,
source) and, as JSON in its parquet metadata under MIX_KEY, how it was made (the spec, the seed,
the hashes of the filtered sidecars it was built from, build_manifest's counts and what the
safety screen removed). The `training_mix` asset writes its mixes here and `recap metrics`
reads them back; an experiment that builds a mix of its own (captioner_quality_mixes.py) goes
through the same steps (read_filtered, the safety screen, write_mix), so every reader of
data/mix finds the same metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from components.captioner.loading import load_captioner
from components.curation.mix import MixResult, MixSpec, build_manifest
from components.curation.safety_screen import ScreenedRows
from components.io.hashing import file_sha256
from components.recaption.sidecar import write_table_with_info
from components.text.words import word_count

MIX_KEY = b"recap.mix"


@dataclass(frozen=True)
class FilteredRows:
    rows: pd.DataFrame  # every filtered sidecar's rows, with a `shard` column (the sidecar's stem)
    inputs: dict[str, str]  # each sidecar's file name -> its SHA-256: what a mix was built from


def read_filtered(paths: Sequence[Path]) -> FilteredRows:
    """The filtered sidecars data/filtered/NNNNN.parquet as one table; raises naming none given."""
    if not paths:
        raise FileNotFoundError("no filtered sidecars to build a mix from; materialize filtered_captions first")
    rows = pd.concat([pd.read_parquet(p).assign(shard=p.stem) for p in paths], ignore_index=True)
    return FilteredRows(rows, {p.name: file_sha256(p) for p in paths})


def caption_length(captioner_dir: Path | None) -> Callable[[str], int]:
    """How a mix measures a caption for its token cap: the captioner's tokens where one is saved
    at `captioner_dir` (the length the generator's text side was sized for), else words."""
    if captioner_dir is None or not captioner_dir.is_dir():
        return word_count
    tokenizer = load_captioner(captioner_dir).tokenizer
    return lambda text: len(tokenizer.text_ids(text))


def write_mix(
    path: Path,
    screened: ScreenedRows,
    spec: MixSpec,
    *,
    seed: int,
    count: Callable[[str], int],
    inputs: Mapping[str, str],
) -> tuple[MixResult, dict[str, Any]]:
    """Builds `spec`'s manifest over the rows the safety screen kept and writes it to `path`
    atomically with its info; returns both. inputs: FilteredRows.inputs."""
    result = build_manifest(screened.rows, spec, seed, count)
    info = {
        "spec": spec.to_dict(),
        "seed": seed,
        "inputs": dict(inputs),
        **result.summary(),
        "safety": screened.summary(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table_with_info(path, pa.Table.from_pandas(result.manifest, preserve_index=False), MIX_KEY, info)
    return result, info
