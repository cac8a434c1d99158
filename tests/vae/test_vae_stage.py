"""Training the autoencoder as the asset does: images from shards (bad ones skipped and
counted), a curve that survives a resume, a saved directory that loads."""

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest

from components.vae.checkpoint import load_vae, vae_manifest
from components.vae.train.module import ReconstructionCurve
from components.vae.train.recipe import resolve_vae_recipe
from components.vae.train.stage import load_shard_images, train_vae
from components.world import render, sample_scene
from tests.user_data import write_user_source


def _images(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([render(sample_scene(rng)) for _ in range(n)])


def test_shard_images_skip_and_count_what_does_not_decode(tmp_path: Path) -> None:
    # A user's shards with every fault the reader meets (tests/user_data.py): any mode and size
    # is resized to 64 x 64 RGB; a broken PNG, a decompression bomb, a key without a caption and
    # an unsafe member are skipped and counted.
    tars = sorted(write_user_source(tmp_path).glob("*.tar"))
    loaded = load_shard_images(tars, 64, max_images=100)
    assert loaded.images.shape == (7, 64, 64, 3) and loaded.images.dtype == np.uint8
    assert dict(loaded.skipped) == {
        "undecodable_image": 1,
        "undecodable_image: TooManyPixels": 1,
        "missing_caption": 1,
        "unsafe_member": 1,
    }
    assert len(load_shard_images(tars, 32, max_images=2).images) == 2
    with pytest.raises(ValueError, match="no decodable images in 0 shard"):
        load_shard_images([], 64, max_images=2)


def test_recipe_overrides_and_bad_values_name_themselves() -> None:
    recipe = resolve_vae_recipe("quick", {"preset": "kl_f4", "max_minutes": 30})
    assert recipe.preset == "kl_f4" and recipe.trainer.max_minutes == 30
    with pytest.raises(ValueError, match="unknown VAE preset 'kl_f16'"):
        resolve_vae_recipe("quick", {"preset": "kl_f16"})
    with pytest.raises(ValueError, match="unknown VAE recipe 'fast'"):
        resolve_vae_recipe("fast")


def test_curve_state_survives_a_checkpoint() -> None:
    curve = ReconstructionCurve(_images(2), every_minutes=0.5)
    curve.trained_minutes, curve.next_at, curve.points = 1.2, 1.5, [{"minutes": 1.0, "step": 7}]
    resumed = ReconstructionCurve(_images(2), every_minutes=0.5)
    resumed.load_state_dict(curve.state_dict())
    assert (resumed.trained_minutes, resumed.next_at, resumed.points) == (1.2, 1.5, [{"minutes": 1.0, "step": 7}])


class _KilledAt(L.Callback):
    """Stands in for a SIGKILL: the run dies after `step` steps (checkpoints every 2)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            raise RuntimeError("killed")


def test_a_killed_run_resumes_and_a_complete_one_starts_afresh(tmp_path: Path) -> None:
    images, heldout = _images(16), _images(4, seed=1)
    recipe = resolve_vae_recipe(
        "quick",
        {
            "preset": "tiny_f2",
            "max_steps": 5,
            "max_minutes": None,
            "batch_size": 4,
            "progress_bar": False,
            "checkpoint_every_n_steps": 2,
        },
    )
    dirs: dict[str, Any] = {"work_dir": tmp_path / "work", "out_dir": tmp_path / "vae"}
    with pytest.raises(RuntimeError, match="killed"):
        train_vae(recipe, images=images, heldout=heldout, callbacks=[_KilledAt(3)], **dirs)
    assert not (tmp_path / "vae").exists()  # nothing half-saved
    resumed = train_vae(recipe, images=images, heldout=heldout, **dirs)
    assert resumed.fit is not None and resumed.fit.resumed_from is not None and resumed.fit.steps == 5
    manifest = vae_manifest(tmp_path / "vae")
    assert manifest["steps"] == 5 and manifest["downsampling_factor"] == 2
    assert load_vae(tmp_path / "vae").config["scaling_factor"] == pytest.approx(resumed.scaling_factor)
    again = train_vae(recipe, images=images, heldout=heldout, **dirs)
    assert again.fit is not None and again.fit.resumed_from is None and again.fit.steps == 5
    # A pretrained directory is loaded, not trained, and saved again with its report.
    loaded = train_vae(
        resolve_vae_recipe("quick", {"pretrained": str(tmp_path / "vae")}),
        images=images,
        heldout=heldout,
        work_dir=tmp_path / "work2",
        out_dir=tmp_path / "vae2",
    )
    assert loaded.fit is None and vae_manifest(tmp_path / "vae2")["pretrained"] == str(tmp_path / "vae")
    with pytest.raises(ValueError, match="no config.json"):
        load_vae(tmp_path)


def test_training_stops_at_the_first_point_that_keeps_the_target(tmp_path: Path) -> None:
    # A curve point after every step (0.00001 minutes): a target of 0 is met at the first point,
    # so one step is trained; a target of 1 is never met by an untrained VAE, so the budget ends it.
    images, heldout = _images(8), _images(2, seed=1)
    recipe = resolve_vae_recipe(
        "quick",
        {
            "preset": "tiny_f4",
            "max_steps": 3,
            "max_minutes": None,
            "batch_size": 4,
            "progress_bar": False,
            "curve_every_minutes": 0.00001,
        },
    )
    for target, steps in ((0.0, 1), (1.0, 3)):
        out = tmp_path / f"vae_{target}"
        result = train_vae(
            recipe, images=images, heldout=heldout, work_dir=tmp_path / "work", out_dir=out, stop_at_objects_kept=target
        )
        assert result.fit is not None and result.fit.steps == steps and len(result.curve) == steps
        assert vae_manifest(out)["stop_at_objects_kept"] == target
    with pytest.raises(ValueError, match="stop_at_objects_kept must be in"):
        ReconstructionCurve(heldout, every_minutes=1.0, stop_at_objects_kept=99.0)
