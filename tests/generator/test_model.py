"""The U-Net presets: built for the VAE's latents and the encoder's width, attention only at
low resolution, and a width mismatch named."""

import pytest
import torch

from components.generator.model import UNET_PRESETS, build_unet, check_context_width, parameter_count


@pytest.mark.parametrize("preset", UNET_PRESETS)
def test_presets_build_for_the_latent_and_attend_only_below_32x32(preset: str) -> None:
    unet = build_unet(preset, sample_size=32, latent_channels=4, cross_attention_dim=384)
    assert unet.config["in_channels"] == unet.config["out_channels"] == 4
    # the first down block works at the full 32 x 32 latent: no attention there
    assert not hasattr(unet.down_blocks[0], "attentions") and hasattr(unet.down_blocks[1], "attentions")
    assert not hasattr(unet.up_blocks[-1], "attentions")
    assert parameter_count(unet) > 0


def test_tiny_preset_denoises_a_batch_of_the_right_shape() -> None:
    unet = build_unet("tiny", sample_size=32, latent_channels=4, cross_attention_dim=384)
    out = unet(torch.randn(2, 4, 32, 32), torch.tensor([0, 999]), encoder_hidden_states=torch.randn(2, 7, 384))
    assert out.sample.shape == (2, 4, 32, 32)


def test_bad_sizes_and_widths_are_named() -> None:
    with pytest.raises(ValueError, match="unknown U-Net preset 'huge'"):
        build_unet("huge", sample_size=32, latent_channels=4, cross_attention_dim=384)
    with pytest.raises(ValueError, match="latent size 30 is not divisible"):
        build_unet("tiny", sample_size=30, latent_channels=4, cross_attention_dim=384)
    unet = build_unet("tiny", sample_size=16, latent_channels=4, cross_attention_dim=384)
    with pytest.raises(ValueError, match="gives 512-wide token embeddings but the U-Net cross-attends to width 384"):
        check_context_width(unet, 512, "text encoder CLIPTextModel")
