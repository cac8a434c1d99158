"""A mix manifest on disk, data/mix/<spec>.parquet: the manifest's rows (key, shard, caption,
source) and, as JSON in its parquet metadata under MIX_KEY, how it was made (the spec, the seed,
the hashes of the filtered sidecars it was built from, build_manifest's counts and what the
safety screen removed). The `training_mix` asset writes its mixes here and `recap metrics`
reads them back; an experiment that builds a mix of its own (captioner_quality_mixes.py) writes
it the same way, so every reader of data/mix finds the same metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from components.curation.mix import MixResult, MixSpec
from components.recaption.sidecar import write_table_with_info

MIX_KEY = b"recap.mix"


def write_mix(
    path: Path,
    result: MixResult,
    *,
    spec: MixSpec,
    seed: int,
    inputs: Mapping[str, str],
    safety: Mapping[str, Any],
) -> dict[str, Any]:
    """Writes `result`'s manifest to `path` atomically with its info; returns the info.
    inputs: each filtered sidecar's file name -> its SHA-256; safety: ScreenedRows.summary()."""
    info = {"spec": spec.to_dict(), "seed": seed, "inputs": dict(inputs), **result.summary(), "safety": dict(safety)}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table_with_info(path, pa.Table.from_pandas(result.manifest, preserve_index=False), MIX_KEY, info)
    return info
