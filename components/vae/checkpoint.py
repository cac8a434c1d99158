"""A trained autoencoder on disk: a diffusers model directory (config.json with its
`_class_name`, the safetensors weights) and the manifest the `vae` asset writes beside them
(vae.json: its held-out report and curve). Loading needs diffusers only, not the training code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.autoencoders.autoencoder_tiny import AutoencoderTiny

from components.vae.model import VAE_CLASSES, Vae

MANIFEST = "vae.json"


def load_vae(path_or_id: str | Path) -> Vae:
    """A diffusers autoencoder directory (or hub id) of either class, by its config's `_class_name`."""
    local = Path(path_or_id)
    if local.exists():
        config_file = local / "config.json"
        if not config_file.is_file():
            raise ValueError(f"{local} is not a diffusers VAE directory: it has no config.json")
        name = json.loads(config_file.read_text()).get("_class_name")
        if name not in VAE_CLASSES:
            raise ValueError(f"{config_file}: _class_name {name!r} is not one of {sorted(VAE_CLASSES)}")
        return VAE_CLASSES[name].from_pretrained(local)
    try:  # a hub id: AutoencoderKL is what Stable Diffusion checkpoints hold
        return AutoencoderKL.from_pretrained(str(path_or_id))
    except (OSError, ValueError):
        return AutoencoderTiny.from_pretrained(str(path_or_id))


def vae_manifest(out_dir: Path) -> dict[str, Any]:
    path = out_dir / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir} has no {MANIFEST}: materialize the `vae` asset first")
    return json.loads(path.read_text())
