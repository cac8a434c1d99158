"""Shared test helpers."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import DagsterInstance

REPO = Path(__file__).resolve().parent.parent


def dvc_command() -> str:
    """The dvc the setup installed in its own environment (linked into .venv/bin)."""
    for candidate in (REPO / ".venv" / "bin" / "dvc", REPO / ".venv-dvc" / "bin" / "dvc"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("dvc")
    if found is None:
        raise RuntimeError("dvc not found: run scripts/setup.sh, which installs it in .venv-dvc")
    return found


def materialize_tiny_datasets(instance: DagsterInstance) -> None:
    """Both web shards of the tiny profile and the curated set, in `instance`: what every
    trained asset's test starts from."""
    from dagster import materialize

    from recap_dagster.definitions import RESOURCES, curated_captions, web_shards

    for partition in ("00000", "00001"):
        assert materialize([web_shards], resources=RESOURCES, instance=instance, partition_key=partition).success
    assert materialize([curated_captions], resources=RESOURCES, instance=instance).success


def write_alt_text_mix(storage, extra_rows: Sequence[tuple[str, str, str, str]] = ()) -> Path:
    """data/mix/original_only.parquet over the tiny web shards' alt texts (and `extra_rows`), as
    training_mix writes it: what the generator's tests train on without the curation chain."""
    import pandas as pd

    from components.data.shard_reader import read_shard

    rows = [
        (sample.key, tar.stem, sample.caption, "original")
        for tar in storage.web_shard_tars()
        for sample in read_shard(tar, decode=False)
    ]
    storage.mix_dir().mkdir(parents=True, exist_ok=True)
    path = storage.mix_dir() / "original_only.parquet"
    frame = pd.DataFrame.from_records([*rows, *extra_rows], columns=["key", "shard", "caption", "source"])
    frame.to_parquet(path)
    return path
