"""FID and KID in the judge's image features: known answers on rendered world images (a set
against itself, the same set under more and more noise), KID's exact value for a set against
itself, the subset size it picks, and the refusals (bad images, no Inception here)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
import torch

from components.evaluation.image_features import (
    FeatureDistances,
    InceptionFeatures,
    JudgeImageFeatures,
    feature_distances,
    judge_image_features,
)
from components.judge.checkpoint import save_judge
from components.judge.config import JudgeConfig
from components.judge.model import AlignmentJudge
from components.text.tokenizer import CaptionTokenizer
from components.world import WorldConfig, render, sample_scene


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> JudgeImageFeatures:
    """A tiny judge's image tower, saved and loaded as a trained one would be. Untrained: the
    known answers below hold for any fixed feature map."""
    torch.manual_seed(0)
    tokenizer = CaptionTokenizer.train(["a red circle.", "a blue square."], vocab_size=300)
    judge = AlignmentJudge(
        JudgeConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    )
    manifest = {"score_kind": "cosine", "threshold": 0.5}
    directory = save_judge(tmp_path_factory.mktemp("judge") / "judge", judge, tokenizer, manifest, overwrite=False)
    return judge_image_features(directory)


@pytest.fixture(scope="module")
def world() -> np.ndarray:
    """(320, 64, 64, 3) uint8 rendered scenes: two independent samples of 160."""
    return np.stack([render(sample_scene(np.random.default_rng([7, i]), WorldConfig())) for i in range(320)])


def _noisy(images: np.ndarray, sigma: float) -> np.ndarray:
    noise = np.random.default_rng(1).normal(0.0, sigma, images.shape)
    return np.clip(images + noise, 0, 255).round().astype(np.uint8)


def test_a_set_against_itself_and_under_rising_noise(features: JudgeImageFeatures, world: np.ndarray) -> None:
    real = world[:160]
    same = feature_distances(real, real, features)
    assert same.feature_name == "judge image tower, mean of its tokens (64)"
    assert (same.n_real, same.n_fake, same.kid_subset_size) == (160, 160, 160)
    noisier = [feature_distances(real, _noisy(real, sigma), features) for sigma in (10, 40)]
    assert abs(same.fid) < 1e-4 * noisier[0].fid  # 0 up to the eigenvalues' rounding
    assert same.fid < noisier[0].fid < noisier[1].fid
    assert same.kid_mean < noisier[0].kid_mean < noisier[1].kid_mean
    # Another sample of the same world: KID, unbiased, is ~0 beside the noise's; FID is not
    # (its finite-sample bias is positive), which is why KID is reported beside it.
    other = feature_distances(real, world[160:], features)
    assert abs(other.kid_mean) < 0.2 * noisier[1].kid_mean and other.fid > noisier[0].fid


def test_kid_of_a_set_against_itself_is_its_exact_small_negative_value(
    features: JudgeImageFeatures, world: np.ndarray
) -> None:
    # Each subset is all 160 images on both sides, so the unbiased MMD^2 of a sample with itself
    # is 2 / (m - 1) * (mean of the kernel - mean of its diagonal): below 0 by O(1 / m), not 0.
    kid = feature_distances(world[:160], world[:160], features)
    with torch.no_grad():
        x = features(torch.from_numpy(world[:160]).permute(0, 3, 1, 2)).double()  # (160, 64)
    kernel = (x @ x.T / x.shape[1] + 1) ** 3  # torchmetrics' polynomial kernel, degree 3, coef 1
    m = x.shape[0]
    expected = 2 / (m - 1) * float(kernel.mean() - kernel.diagonal().mean())
    assert kid.kid_mean == pytest.approx(expected, rel=1e-4) and expected < 0
    assert kid.kid_std == pytest.approx(0.0, abs=1e-9 * abs(expected))  # every subset is the same


def test_kid_subsets_fit_the_smaller_side_and_a_seed_repeats_them(
    features: JudgeImageFeatures, world: np.ndarray
) -> None:
    a = feature_distances(world[:60], world[100:140], features, kid_subsets=20, seed=3)
    assert isinstance(a, FeatureDistances) and (a.n_real, a.n_fake, a.kid_subset_size) == (60, 40, 40)
    assert a == feature_distances(world[:60], world[100:140], features, kid_subsets=20, seed=3)
    assert a.kid_mean != feature_distances(world[:60], world[100:140], features, kid_subsets=20, seed=4).kid_mean


def test_bad_images_are_refused_by_name(features: JudgeImageFeatures, world: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"real images are \(64, 64, 3\) but fake ones \(32, 32, 3\)"):
        feature_distances(world[:4], world[:4, :32, :32], features)
    with pytest.raises(ValueError, match="fake images must be a uint8 numpy array, got ndarray of float64"):
        feature_distances(world[:4], world[:4] / 255.0, features)
    with pytest.raises(ValueError, match=r"real images must be \(N, H, W, 3\), got \(4, 64, 64\)"):
        feature_distances(world[:4, ..., 0], world[:4], features)
    with pytest.raises(ValueError, match="fake images: FID and KID need at least 2, got 1"):
        feature_distances(world[:4], world[:1], features)
    with pytest.raises(ValueError, match=r"image tower reads \(N, \*\(3, 64, 64\)\), got \(4, 3, 32, 32\)"):
        feature_distances(world[:4, :32, :32], world[4:8, :32, :32], features)


def test_inception_needs_a_weights_file_and_torch_fidelity(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no Inception weights file at"):
        InceptionFeatures(tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    if find_spec("torch_fidelity") is not None:
        pytest.skip("torch-fidelity is installed: the refusal below does not apply")
    weights = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    weights.write_bytes(b"")
    with pytest.raises(ModuleNotFoundError, match="need the torch-fidelity package"):
        InceptionFeatures(weights)
