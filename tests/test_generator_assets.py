"""The generator group's assets materialize on the tiny project: the autoencoder is trained,
measured on the held-out images, saved as a diffusers directory that loads, and its figures
reach the metadata and MLflow."""

from __future__ import annotations

import json

import torch
from dagster import DagsterInstance, materialize
from mlflow import MlflowClient

from components.vae.checkpoint import load_vae, vae_manifest
from components.vae.model import downsampling_factor, encode
from recap_dagster.definitions import RESOURCES, vae
from tests.helpers import materialize_tiny_datasets, write_alt_text_mix


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


def test_generator_trains_a_mix_partition_judges_exports_and_registers() -> None:
    """The `original_only` partition, from a manifest written here over the tiny web shards (the
    curation chain has its own tests), on the VAE the test above left."""
    import numpy as np
    from diffusers import DiffusionPipeline

    from components.generator.pipeline import generate
    from components.generator.train.stage import generator_manifest
    from recap_dagster.definitions import generator

    storage = RESOURCES["storage"]
    missing = ("missing_key", "00000", "a row whose image is not in its shard", "original")
    write_alt_text_mix(storage, [missing])
    with DagsterInstance.ephemeral() as instance:
        if not storage.vae_dir().is_dir():
            materialize_tiny_datasets(instance)
            assert materialize([vae], resources=RESOURCES, instance=instance).success
        result = materialize([generator], resources=RESOURCES, instance=instance, partition_key="original_only")
        assert result.success
    [event] = result.asset_materializations_for_node("generator")
    metadata = {k: v.value for k, v in event.metadata.items()}
    assert metadata["mix"] == "original_only" and metadata["steps"] == 2 and metadata["rows"] == 48
    assert metadata["skipped_rows"] == {"key_missing_from_shard": 1}  # counted, not fatal
    assert metadata["truncated_captions"] > 0  # alt texts past the tiny recipe's 8 tokens
    assert {"figures", "samples", "eval/single/colour", "eval/background"} <= set(metadata)
    assert (
        metadata["registered_model"].startswith("recap-generator v")
        and "@newest_original_only" in metadata["registered_model"]
    )
    out_dir = storage.generator_dir("original_only")
    assert generator_manifest(out_dir)["training_set"]["mix"] == "original_only"
    pipe = DiffusionPipeline.from_pretrained(out_dir)
    image = generate(pipe, ["a red circle"], steps=2)  # pyright: ignore[reportArgumentType]
    assert image.shape == (1, 64, 64, 3) and image.dtype == np.uint8
    client = MlflowClient(RESOURCES["mlflow"].resolved_uri())
    run = client.get_run(metadata["mlflow_run_id"])
    assert run.data.tags["recap.mix"] == "original_only" and run.data.params["mix"] == "original_only"
    assert "final/short/all" in run.data.metrics
    scale = {k: v for k, v in run.data.params.items() if k.startswith("scale/")}  # one process, the recipe's batch
    assert scale["scale/world_size"] == "1" and scale["scale/global_batch"] == scale["scale/rank_batch"] == "4"
    version = client.get_model_version_by_alias("recap-generator", "newest_original_only")
    assert version.tags["mix"] == "original_only" and version.run_id == run.info.run_id
    # Judged by its long prompts' all-clauses share; champion across mixes only when it beats it.
    assert version.tags["champion.value"] == repr(run.data.metrics["final/long/all"])
    champion = client.get_model_version_by_alias("recap-generator", "champion")
    assert float(champion.tags["champion.value"]) >= run.data.metrics["final/long/all"]
