"""Saving and loading the local rewriter: the transformers model and tokenizer with
`save_pretrained` (so `from_pretrained` and any chat-template backend load it), and a
manifest (`upsampler.json`) with the sampling settings it was measured with and how it was
trained, written atomically as the other models' directories are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.io.atomic import write_dir_atomically
from components.io.manifest import read_manifest

MANIFEST_FILE = "upsampler.json"
FORMAT = "recap-upsampler"
SAMPLING_KEYS = ("temperature", "top_p", "max_new_tokens", "tries")


def save_upsampler(directory: Path, model: Any, tokenizer: Any, manifest: dict[str, Any], *, overwrite: bool) -> Path:
    """manifest: at least the sampling settings (SAMPLING_KEYS), plus anything JSON."""
    missing = [key for key in SAMPLING_KEYS if key not in manifest]
    if missing:
        raise ValueError(f"the upsampler manifest lacks {missing}")
    text = json.dumps({"format": FORMAT, **manifest}, indent=2)

    def fill(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / MANIFEST_FILE).write_text(text + "\n")

    return write_dir_atomically(directory, fill, overwrite=overwrite)


def read_upsampler_manifest(directory: Path) -> dict[str, Any]:
    return read_manifest(directory, MANIFEST_FILE, FORMAT, "prompt upsampler")
