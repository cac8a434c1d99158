"""The generator group's assets materialize on the tiny project: the autoencoder is trained,
measured on the held-out images, saved as a diffusers directory that loads, and its figures
reach the metadata and MLflow."""

from __future__ import annotations

import json

import torch
from dagster import DagsterInstance, materialize
from mlflow import MlflowClient

from components.generator.vae import downsampling_factor, encode
from components.generator.vae_stage import load_vae, vae_manifest
from recap_dagster.definitions import RESOURCES, vae
from tests.helpers import materialize_tiny_datasets


def test_vae_trains_measures_and_saves_a_diffusers_directory() -> None:
    with DagsterInstance.ephemeral() as instance:
        materialize_tiny_datasets(instance)
        result = materialize([vae], resources=RESOURCES, instance=instance)
        assert result.success
    [event] = result.asset_materializations_for_node("vae")
    metadata = {k: v.value for k, v in event.metadata.items()}
    assert metadata["steps"] == 2 and metadata["preset"] == "tiny_f4" and metadata["downsampling_factor"] == 4
    assert metadata["training_images"] == 48  # the tiny profile's two web shards of 24
    assert 0.0 <= metadata["objects_kept"] <= 1.0 and "reconstructions" in metadata
    out_dir = RESOURCES["storage"].vae_dir()
    loaded = load_vae(out_dir)  # diffusers' own from_pretrained, by the config's class
    assert type(loaded).__name__ == "AutoencoderTiny" and downsampling_factor(loaded) == 4
    manifest = vae_manifest(out_dir)
    assert manifest["scaling_factor"] == metadata["scaling_factor"] == loaded.config["scaling_factor"]
    assert json.loads((out_dir / "config.json").read_text())["_class_name"] == "AutoencoderTiny"
    with torch.no_grad():
        assert encode(loaded, torch.zeros(1, 3, 64, 64)).shape == (1, 4, 16, 16)
    run = MlflowClient(RESOURCES["mlflow"].resolved_uri()).get_run(metadata["mlflow_run_id"])
    assert run.data.metrics["heldout/objects_kept"] == metadata["objects_kept"]
    assert run.data.params["recipe.preset"] == "tiny_f4"
