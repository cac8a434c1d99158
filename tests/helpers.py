"""Shared test helpers."""

from __future__ import annotations

import shutil
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
