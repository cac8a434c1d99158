"""An untrained tiny generator saved as a diffusers pipeline directory: what the tests that
load, register or draw from a pipeline start from (seconds to build, nothing to train)."""

from __future__ import annotations

from pathlib import Path


def save_tiny_pipeline(directory: Path, seed: int = 0) -> Path:
    """The `tiny` U-Net over the `tiny_f4` autoencoder and an 8-token text encoder, DDIM on the
    epsilon schedule, saved to `directory` with save_pretrained."""
    import torch

    from components.generator.model import build_unet
    from components.generator.objective import resolve_objective
    from components.generator.pipeline import assemble_pipeline, sampling_scheduler
    from components.generator.text_encoder import load_text_encoder
    from components.vae.model import build_vae

    torch.manual_seed(seed)
    vae = build_vae("tiny_f4").eval()
    vae.register_to_config(scaling_factor=1.0)
    encoder = load_text_encoder(max_tokens=8)
    unet = build_unet("tiny", sample_size=16, latent_channels=4, cross_attention_dim=encoder.width)
    scheduler = sampling_scheduler("ddim", dict(resolve_objective("epsilon").scheduler().config))
    assemble_pipeline(vae, encoder, unet, scheduler).save_pretrained(directory)
    return directory
