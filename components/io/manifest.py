"""Reading a saved model's manifest: the JSON file beside its weights that names its format
(`{"format": "recap-judge", ...}`) and holds what loading needs (thresholds, sampling settings),
refused with the directory and the file named when it is missing or of another format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_manifest(directory: str | Path, file_name: str, format_name: str, kind: str) -> dict[str, Any]:
    """`kind` names the directory in the error ("judge", "prompt upsampler")."""
    path = Path(directory) / file_name
    if not path.is_file():
        raise FileNotFoundError(f"{str(directory)!r} is no {kind} directory: {file_name} is missing")
    manifest = json.loads(path.read_text())
    if not isinstance(manifest, dict) or manifest.get("format") != format_name:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"{path} is not a {format_name} manifest: format {found!r}")
    return manifest
