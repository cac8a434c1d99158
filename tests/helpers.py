"""Shared test helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

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
