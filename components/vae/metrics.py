"""How much of an image survives the autoencoder, as the evaluation will read it.

PSNR says how close the pixels are; what matters downstream is whether the scene parser
(the judge of every generated image) reads the same objects in the reconstruction as in the
original. A VAE that blurs a triangle into a circle, or every colour into one brown average,
caps every generator score after it (the issue's probe: layout comes before colour).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import torch

from components.vae.model import Vae, decode, encode, to_pixels
from components.world import Scene, compare_scenes, parse_image


def _objects(scene: Scene) -> Counter[tuple[int, int, str, str, str]]:
    return Counter((o.row, o.col, o.shape, o.color, o.size) for o in scene.objects)


def objects_kept(original: Scene, reconstructed: Scene) -> tuple[int, int]:
    """(objects of `original` found in `reconstructed` with the same cell, shape, colour and
    size, objects of `original`)."""
    want, got = _objects(original), _objects(reconstructed)
    return sum((want & got).values()), sum(want.values())


@torch.no_grad()
def reconstruct(vae: Vae, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """images (N, H, W, 3) uint8 -> their reconstructions, (N, H, W, 3) uint8."""
    was_training = vae.training
    vae.eval()
    out = []
    for start in range(0, len(images), batch_size):
        decoded = decode(vae, encode(vae, to_pixels(images[start : start + batch_size]))).clamp(-1, 1)
        out.append(((decoded + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
    vae.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, *images.shape[1:]), np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 image stacks (mean squared error over all)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@dataclass(frozen=True)
class ReconstructionReport:
    psnr: float  # dB
    objects_kept: float  # share of the originals' objects read the same in the reconstructions
    backgrounds_kept: float  # share of images whose background is read the same
    scenes_exact: float  # share of images whose every object, background and sign survive
    images: int

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def reconstruction_report(vae: Vae, images: np.ndarray) -> ReconstructionReport:
    """images (N, 64, 64, 3) uint8, e.g. held-out world renders, through `vae` and back."""
    return compare_reconstructions(images, reconstruct(vae, images))


def compare_reconstructions(images: np.ndarray, rebuilt: np.ndarray) -> ReconstructionReport:
    """Originals and their reconstructions, both (N, 64, 64, 3) uint8, as the parser reads them."""
    if len(images) == 0:
        raise ValueError("no images to judge the autoencoder on")
    if images.shape != rebuilt.shape:
        raise ValueError(f"{images.shape} originals but {rebuilt.shape} reconstructions")
    kept = total = backgrounds = exact = 0
    for original, copy in zip(images, rebuilt, strict=True):
        truth, read = parse_image(original).scene, parse_image(copy).scene
        k, n = objects_kept(truth, read)
        kept, total = kept + k, total + n
        backgrounds += truth.background == read.background
        exact += compare_scenes(read, truth).exact
    return ReconstructionReport(
        psnr=psnr(images, rebuilt),
        objects_kept=kept / total if total else 1.0,
        backgrounds_kept=backgrounds / len(images),
        scenes_exact=exact / len(images),
        images=len(images),
    )
