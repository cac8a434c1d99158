"""FID and KID between real and generated images, through torchmetrics
(FrechetInceptionDistance, KernelInceptionDistance), in the features of a network that
has seen the shapes world.

Inception v3, the features FID is defined on, was trained on ImageNet photographs and its
weights cannot be fetched here; flat-coloured 64 x 64 shapes are far from what it knows.
The default extractor is therefore the alignment judge's image tower, trained on this
world: its output tokens (after the tower's final norm) averaged over the image, the
analogue of Inception's pool3 (the spatial mean of its last feature map, before any head).
Not the judge's contrastive embedding: that is the attentional pooler's output projected
and scaled to unit length, shaped only to tell captions apart, so it keeps what a caption
names and drops what none does (noise, smudged edges), which is what FID is there to see.
Numbers in these features compare generators with one another under the same judge; they
are not comparable with published FIDs.

With Inception weights in a local file (torch-fidelity's `pt_inception-2015-12-05`, the
state dict FID's reference implementation uses) and the `torch-fidelity` package installed,
`InceptionFeatures` gives the standard pool3 features (2048), resizing to 299 itself.
Neither is installed in this project, and that function says so.

Extractors take (N, 3, H, W) uint8, as torch-fidelity's Inception does. Each image is passed
through one once; FID and KID are then computed by torchmetrics from those features (its
custom-feature path, with an identity in place of the network).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from components.evaluation.clip_score import check_images
from components.judge.checkpoint import load_judge
from components.judge.model import AlignmentJudge

KID_MAX_SUBSET = 1000  # torchmetrics' default subset size, and the KID paper's


class ImageFeatures(nn.Module):
    """A feature extractor: (N, 3, H, W) uint8 -> (N, num_features), named for the report."""

    def __init__(self, num_features: int, feature_name: str) -> None:
        super().__init__()
        self.num_features = num_features
        self.feature_name = feature_name


class JudgeImageFeatures(ImageFeatures):
    """The judge's image tower, its tokens averaged: (N, 3, S, S) uint8 -> (N, vision_width)."""

    def __init__(self, judge: AlignmentJudge) -> None:
        towers = judge.config.towers
        super().__init__(towers.vision_width, f"judge image tower, mean of its tokens ({towers.vision_width})")
        self.visual = judge.visual.eval()
        self.image_shape = (towers.channels, towers.image_size, towers.image_size)

    def train(self, mode: bool = True) -> JudgeImageFeatures:
        return super().train(False)  # BatchNorm stems keep their running statistics

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(f"the judge's image tower reads (N, *{self.image_shape}), got {tuple(images.shape)}")
        pixels = images.float() / 255.0 * 2.0 - 1.0  # the tower reads [-1, 1], as AlignmentJudge.encode_image
        return self.visual(pixels).mean(dim=1)  # (N, T, Dv) -> (N, Dv)


def judge_image_features(directory: str | Path, *, device: str = "cpu") -> JudgeImageFeatures:
    """The image features of the judge saved in `directory` (components/judge/checkpoint.py)."""
    scorer, _ = load_judge(Path(directory), device)
    return JudgeImageFeatures(scorer.judge)


class InceptionFeatures(ImageFeatures):
    """Inception v3's pool3 through torch-fidelity, weights from a local file: (N, 3, H, W) uint8 -> (N, 2048)."""

    def __init__(self, weights: str | Path) -> None:
        super().__init__(2048, "inception v3 pool3 (2048)")
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"no Inception weights file at {str(path)!r}")
        if find_spec("torch_fidelity") is None:
            raise ModuleNotFoundError(
                f"Inception features need the torch-fidelity package, which this project does not install; "
                f"the weights {str(path)!r} cannot be read without it (use the judge's features)"
            )
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.inception = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(path))

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        return self.inception(images)


@dataclass(frozen=True)
class FeatureDistances:
    fid: float  # Frechet distance of the two feature Gaussians; 0 for identical sets
    kid_mean: float  # unbiased polynomial-kernel MMD^2, mean over subsets; ~0 for one distribution
    kid_std: float  # its standard deviation over the subsets
    kid_subset_size: int  # images per subset: min(n_real, n_fake, KID_MAX_SUBSET)
    n_real: int
    n_fake: int
    feature_name: str


def feature_distances(
    real: np.ndarray,
    fake: np.ndarray,
    features: ImageFeatures,
    *,
    kid_subsets: int = 100,
    batch_size: int = 256,
    seed: int = 0,
) -> FeatureDistances:
    """FID and KID between real and fake images, each (N, H, W, 3) uint8 with N >= 2, in `features`.

    KID draws `kid_subsets` random subsets of kid_subset_size from each side (seeded by `seed`);
    when that size is a whole side, every subset of that side is all of it."""
    real_pixels, fake_pixels = _uint8_batch(real, "real"), _uint8_batch(fake, "fake")
    if real_pixels.shape[1:] != fake_pixels.shape[1:]:
        raise ValueError(f"real images are {tuple(real.shape[1:])} but fake ones {tuple(fake.shape[1:])}")
    n_real, n_fake = real_pixels.shape[0], fake_pixels.shape[0]
    subset_size = min(n_real, n_fake, KID_MAX_SUBSET)
    # Each image goes through the extractor once; both metrics then read its features through an
    # identity "extractor", in float64, the precision torchmetrics recommends for FID.
    passthrough = _Features(features.num_features)
    fid = FrechetInceptionDistance(feature=passthrough)
    with warnings.catch_warnings():  # it warns that it keeps every feature: (n_real + n_fake, num_features) here
        warnings.filterwarnings("ignore", message="Metric `Kernel Inception Distance` will save")
        kid = KernelInceptionDistance(feature=passthrough, subsets=kid_subsets, subset_size=subset_size)
    features.eval()
    for pixels, is_real in ((real_pixels, True), (fake_pixels, False)):
        extracted = _extract(features, pixels, batch_size)  # (N, num_features) float64
        fid.update(extracted, real=is_real)
        kid.update(extracted, real=is_real)
    with torch.random.fork_rng(devices=[]):  # KID's subsets come from torch's global generator
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return FeatureDistances(
        fid=float(fid.compute()),
        kid_mean=float(kid_mean),
        kid_std=float(kid_std),
        kid_subset_size=subset_size,
        n_real=n_real,
        n_fake=n_fake,
        feature_name=features.feature_name,
    )


class _Features(nn.Identity):
    """What torchmetrics is given: features already extracted, (N, num_features) -> the same."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features


@torch.no_grad()
def _extract(features: ImageFeatures, pixels: Tensor, batch_size: int) -> Tensor:
    """(N, 3, H, W) uint8 -> (N, num_features) float64 on the CPU, in batches of batch_size."""
    device = next(features.parameters()).device
    out = [features(pixels[start : start + batch_size].to(device)) for start in range(0, pixels.shape[0], batch_size)]
    extracted = torch.cat(out).double().cpu()
    if extracted.shape != (pixels.shape[0], features.num_features):
        raise ValueError(
            f"{features.feature_name} gave features {tuple(extracted.shape)}, "
            f"not ({pixels.shape[0]}, {features.num_features})"
        )
    return extracted


def _uint8_batch(images: np.ndarray, side: str) -> Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) uint8, N >= 2 (a covariance needs two samples)."""
    check_images(images, f"{side} images")
    if images.shape[0] < 2:
        raise ValueError(f"{side} images: FID and KID need at least 2, got {images.shape[0]}")
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
