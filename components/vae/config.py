"""The autoencoder's presets: data (`presets/vae_<name>.json`: the diffusers class and its
config), named by class and downsampling factor. Read without importing diffusers, so that
reading params.yaml (the recipe checks its preset's name) stays light."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PRESET_DIR = Path(__file__).parent / "presets"
VAE_PRESETS: tuple[str, ...] = tuple(sorted(p.stem.removeprefix("vae_") for p in PRESET_DIR.glob("vae_*.json")))
VAE_CLASS_NAMES = ("AutoencoderKL", "AutoencoderTiny")


def preset_spec(name: str) -> dict[str, Any]:
    """Preset `name`: {"class": one of VAE_CLASS_NAMES, "config": the class's arguments}."""
    path = PRESET_DIR / f"vae_{name}.json"
    if not path.is_file():
        raise ValueError(f"unknown VAE preset {name!r}; known presets: {VAE_PRESETS}")
    spec = json.loads(path.read_text())
    if spec.get("class") not in VAE_CLASS_NAMES:
        raise ValueError(f"{path}: class {spec.get('class')!r} must be one of {sorted(VAE_CLASS_NAMES)}")
    return spec
