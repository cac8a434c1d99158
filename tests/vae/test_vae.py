"""The autoencoder presets and the reconstruction metrics (known answers on rendered scenes)."""

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from components.vae.config import VAE_CLASS_NAMES, VAE_PRESETS
from components.vae.loss import vae_loss
from components.vae.metrics import compare_reconstructions, objects_kept, psnr, reconstruct
from components.vae.model import (
    VAE_CLASSES,
    adapter,
    build_vae,
    decode,
    downsampling_factor,
    encode,
    latent_scaling_factor,
    to_pixels,
)
from components.world import Scene, WorldObject, render, sample_scene
from components.world.geometry import object_centre


@pytest.mark.parametrize("name", VAE_PRESETS)
def test_presets_build_with_their_downsampling_factor(name):
    torch.manual_seed(0)
    vae = build_vae(name)
    factor = downsampling_factor(vae)
    assert factor == int(name.rsplit("_f", 1)[1][0])
    pixels = torch.rand(2, 3, 64, 64) * 2 - 1
    latents = encode(vae, pixels)
    assert latents.shape == (2, 4, 64 // factor, 64 // factor)
    assert decode(vae, latents).shape == (2, 3, 64, 64)
    # The posterior mean: encoding is deterministic, so cached latents are reproducible.
    assert torch.equal(encode(vae.eval(), pixels), encode(vae, pixels))


def test_every_preset_class_has_an_adapter_and_another_class_is_refused():
    assert sorted(VAE_CLASSES) == sorted(VAE_CLASS_NAMES)
    with pytest.raises(TypeError, match="no adapter for Linear; known classes: .'AutoencoderKL', 'AutoencoderTiny'."):
        adapter(torch.nn.Linear(1, 1))  # pyright: ignore[reportArgumentType]


def test_to_pixels_maps_uint8_images_to_diffusers_range():
    images = np.zeros((2, 4, 4, 3), np.uint8)
    images[0, 1, 2] = (0, 255, 51)
    pixels = to_pixels(images)
    assert pixels.shape == (2, 3, 4, 4) and pixels.dtype == torch.float32
    assert pixels[0, :, 1, 2].tolist() == pytest.approx([-1.0, 1.0, 51 / 127.5 - 1])
    assert to_pixels(images[0]).shape == (3, 4, 4)


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown VAE preset 'f8'.*kl_f4"):
        build_vae("f8")


def test_loss_is_l1_plus_mse_for_the_tiny_autoencoder_and_adds_kl_for_kl():
    torch.manual_seed(0)
    pixels = torch.rand(2, 3, 64, 64) * 2 - 1
    tiny = build_vae("tiny_f4")
    loss = vae_loss(tiny, pixels)
    rebuilt = decode(tiny, encode(tiny, pixels))
    assert torch.allclose(loss.reconstruction, F.l1_loss(rebuilt, pixels) + F.mse_loss(rebuilt, pixels))
    assert loss.kl.item() == 0 and torch.equal(loss.total, loss.reconstruction)
    kl = vae_loss(build_vae("kl_f4"), pixels, kl_weight=0.5)
    assert kl.kl.item() > 0
    assert torch.allclose(kl.total, kl.reconstruction + 0.5 * kl.kl)


def test_scaling_factor_gives_unit_variance_latents():
    torch.manual_seed(0)
    vae = build_vae("kl_f2")
    pixels = torch.rand(8, 3, 64, 64) * 2 - 1
    factor = latent_scaling_factor(vae, pixels, batch_size=3)
    with torch.no_grad():
        assert float((encode(vae, pixels) * factor).std()) == pytest.approx(1.0, rel=1e-4)


def _obj(color, shape, row, col, size="large"):
    return WorldObject(shape, color, size, row, col, object_centre(col, 0), object_centre(row, 0))


def test_objects_kept_counts_cell_shape_colour_and_size():
    truth = Scene(
        "gray", (_obj("red", "circle", 0, 0), _obj("blue", "square", 1, 1), _obj("blue", "square", 2, 2)), None
    )
    assert objects_kept(truth, truth) == (3, 3)
    wrong = Scene(
        "gray", (_obj("red", "circle", 0, 0), _obj("blue", "circle", 1, 1), _obj("blue", "square", 2, 2, "small")), None
    )
    assert objects_kept(truth, wrong) == (1, 3)
    assert objects_kept(truth, Scene("gray", (), None)) == (0, 3)


def test_psnr_known_values():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    assert psnr(a, a) == float("inf")
    assert psnr(a, a + 1) == pytest.approx(10 * np.log10(255**2), abs=1e-9)


def test_reconstruction_report_reads_what_the_parser_reads():
    rng = np.random.default_rng(0)
    scenes = [sample_scene(rng) for _ in range(6)]
    images = np.stack([render(s) for s in scenes])
    perfect = compare_reconstructions(images, images)
    assert (perfect.objects_kept, perfect.backgrounds_kept, perfect.scenes_exact) == (1.0, 1.0, 1.0)
    # One image's first object recoloured, another's background changed: known losses.
    first = scenes[0]
    o = first.objects[0]
    recoloured = replace(first, objects=(replace(o, color="pink" if o.color != "pink" else "red"), *first.objects[1:]))
    second = scenes[1]
    rebackgrounded = replace(second, background="white" if second.background != "white" else "black")
    rebuilt = images.copy()
    rebuilt[0], rebuilt[1] = render(recoloured), render(rebackgrounded)
    report = compare_reconstructions(images, rebuilt)
    total = sum(len(s.objects) for s in scenes)
    assert report.objects_kept == pytest.approx((total - 1) / total)
    assert report.backgrounds_kept == pytest.approx(5 / 6)
    assert report.scenes_exact == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="reconstructions"):
        compare_reconstructions(images, images[:2])


def test_reconstruct_returns_uint8_images_of_the_same_shape():
    torch.manual_seed(0)
    images = np.stack([render(sample_scene(np.random.default_rng(i))) for i in range(3)])
    out = reconstruct(build_vae("tiny_f2"), images, batch_size=2)
    assert out.shape == images.shape and out.dtype == np.uint8
