"""Reading a saved captioner of any backend: the one place that knows which manifest file
names which backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from components.captioner import checkpoint
from components.captioner.coca_captioner import CocaCaptioner
from components.captioner.hf import checkpoint as hf_checkpoint
from components.captioner.hf.captioner import HFCaptioner
from components.captioner.interface import Captioner

# A saved captioner's manifest file -> its backend's loader.
BACKENDS = {
    checkpoint.MANIFEST_FILE: CocaCaptioner.load,
    hf_checkpoint.MANIFEST_FILE: lambda directory, device: HFCaptioner.from_pretrained(directory).to(device).eval(),
}


def _manifest(directory: Path) -> Path:
    if not directory.is_dir():
        raise FileNotFoundError(f"no captioner directory at {str(directory)!r}")
    found = [directory / name for name in BACKENDS if (directory / name).is_file()]
    if len(found) != 1:
        raise FileNotFoundError(
            f"captioner directory {str(directory)!r} must hold exactly one manifest of {sorted(BACKENDS)}, "
            f"found {[p.name for p in found]}"
        )
    return found[0]


def load_captioner(directory: str | Path, *, device: str | torch.device = "cpu") -> Captioner:
    """The captioner saved in `directory` by `Captioner.save`, in eval mode on `device`."""
    directory = Path(directory)
    return BACKENDS[_manifest(directory).name](directory, device=device)


def read_extra(directory: str | Path) -> dict[str, Any]:
    """The `extra` dict (stage, steps, metrics, recipe...) saved with a captioner of any backend."""
    return json.loads(_manifest(Path(directory)).read_text())["extra"]
