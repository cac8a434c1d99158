"""Saving and loading the captioner: safetensors weights, JSON config, tokenizer files.

A captioner directory holds
    model.safetensors       the state dict (nothing pickled)
    config.json             CocaConfig
    tokenizer.json, caption_tokenizer.json   the CaptionTokenizer
    captioner.json          format version and the caller's `extra` (metrics, versions)
It is written to a temporary sibling and renamed into place, so a reader sees either the
whole previous checkpoint or the whole new one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from components.captioner.config import CocaConfig
from components.captioner.model import CocaModel
from components.io.atomic import write_dir_atomically
from components.text.tokenizer import CaptionTokenizer

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "captioner.json"
FORMAT = "recap-captioner"
FORMAT_VERSION = 1
REQUIRED_FILES = (WEIGHTS_FILE, CONFIG_FILE, MANIFEST_FILE)


def save_captioner(
    directory: str | Path,
    model: CocaModel,
    config: CocaConfig,
    tokenizer: CaptionTokenizer,
    extra: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the captioner to `directory` atomically; an existing one is replaced only with overwrite."""
    directory = Path(directory)
    if model.config != config:
        raise ValueError(f"the model was built from a different config than the one given: {model.config} vs {config}")
    tokenizer.check_matches(config)
    try:
        extra_json = json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "extra": extra or {}}, indent=2)
    except TypeError as e:
        raise ValueError(f"extra must be JSON-serialisable: {e}") from e
    state = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}

    def fill(tmp: Path) -> None:
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        (tmp / CONFIG_FILE).write_text(config.to_json())
        tokenizer.save(tmp)
        (tmp / MANIFEST_FILE).write_text(extra_json + "\n")

    return write_dir_atomically(directory, fill, overwrite=overwrite)


def read_checkpoint(directory: str | Path) -> tuple[CocaConfig, CaptionTokenizer, dict[str, torch.Tensor]]:
    """The config, tokenizer and state dict of a save_captioner directory, checked against each other."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no captioner directory at {str(directory)!r}")
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"captioner directory {str(directory)!r} lacks {missing}")
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{directory / MANIFEST_FILE} is format {manifest.get('format')!r} version {manifest.get('version')!r}; "
            f"expected {FORMAT!r} version {FORMAT_VERSION}"
        )
    config = CocaConfig.from_json((directory / CONFIG_FILE).read_text())
    tokenizer = CaptionTokenizer.load(directory)
    tokenizer.check_matches(config)
    return config, tokenizer, load_file(str(directory / WEIGHTS_FILE))
