"""The U-Net presets: built for the VAE's latents and the encoder's width, attention only at
low resolution, and a width mismatch named."""

from typing import cast

import pytest
import torch

from components.generator.model import UNET_PRESETS, build_unet, check_context_width, parameter_count
from components.generator.objective import diffusion_loss, resolve_objective

ATTENTION_AT_32 = ("tiny_attn32",)  # the two-object study's candidate: attention at every level


def test_the_presets_are_the_known_ones() -> None:
    assert set(UNET_PRESETS) == {"tiny", "small", "base", *ATTENTION_AT_32}


@pytest.mark.parametrize("preset", [p for p in UNET_PRESETS if p not in ATTENTION_AT_32])
def test_presets_build_for_the_latent_and_attend_only_below_32x32(preset: str) -> None:
    unet = build_unet(preset, sample_size=32, latent_channels=4, cross_attention_dim=384)
    assert unet.config["in_channels"] == unet.config["out_channels"] == 4
    # the first down block works at the full 32 x 32 latent: no attention there
    assert not hasattr(unet.down_blocks[0], "attentions") and hasattr(unet.down_blocks[1], "attentions")
    assert not hasattr(unet.up_blocks[-1], "attentions")
    assert parameter_count(unet) > 0


def test_the_attention_at_32_preset_attends_at_every_level_and_trains_a_step() -> None:
    torch.manual_seed(0)
    unet = build_unet("tiny_attn32", sample_size=32, latent_channels=4, cross_attention_dim=48)
    assert all(hasattr(block, "attentions") for block in [*unet.down_blocks, *unet.up_blocks])
    # the first block's self-attention runs over all 32 x 32 = 1,024 positions of the latent
    tiny = build_unet("tiny", sample_size=32, latent_channels=4, cross_attention_dim=48)
    assert parameter_count(unet) > parameter_count(tiny)
    objective = resolve_objective("v_zero_snr")
    alphas = objective.scheduler().alphas_cumprod
    x0, noise, t = torch.randn(2, 4, 32, 32), torch.randn(2, 4, 32, 32), torch.tensor([10, 900])
    noisy = alphas[t].sqrt()[:, None, None, None] * x0 + (1 - alphas[t]).sqrt()[:, None, None, None] * noise
    context = torch.randn(2, 5, 48)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-3)
    attention_32 = cast(torch.nn.ModuleList, unet.down_blocks[0].attentions)  # typed as Tensor by nn.Module
    before = [p.detach().clone() for p in attention_32.parameters()]
    loss = diffusion_loss(objective, alphas, unet(noisy, t, encoder_hidden_states=context).sample, x0, noise, t)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    after = list(attention_32.parameters())
    assert any(not torch.equal(b, a) for b, a in zip(before, after, strict=True))  # the 32x32 attention learned


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
