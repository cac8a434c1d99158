"""Checks on the paths an artifact will be written to, made before any work starts."""

from __future__ import annotations

import os
from pathlib import Path


def check_output_dir(directory: str | Path) -> None:
    """Fails, naming the path, when `directory` cannot be created or written to: a file
    where a folder is needed (it or any parent), or a nearest existing folder that this
    process may not write into."""
    directory = Path(directory)
    for parent in (directory, *directory.parents):
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"output path {str(directory)!r} is not a directory: {str(parent)!r} is a file")
    existing = next(p for p in (directory, *directory.parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"output path {str(directory)!r} cannot be written: {str(existing)!r} is not writable")
