"""The `generator` group: `vae`, the autoencoder that every caption mix's generator shares
(trained once per dataset on the web images, never on a caption), measured by how many of
the held-out images' objects the scene parser still reads after the round trip."""

import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset, define_asset_job

from components.captioner.train.data import load_curated
from components.data.preview import sample_grid
from components.data.shards import list_shards
from components.generator.vae_metrics import reconstruct
from components.generator.vae_recipe import VaeRecipe, resolve_vae_recipe
from components.generator.vae_stage import heldout_array, load_shard_images, load_vae, train_vae
from components.world import IMAGE_SIZE  # the generator works at the world's canvas; a user's images are resized to it
from recap_dagster.config import PARAMS, TrainingRunConfig
from recap_dagster.metadata import grid_markdown, markdown_table
from recap_dagster.resources import MlflowTracking, ProjectStorage

GRID_IMAGES = 8


class VaeConfig(TrainingRunConfig):
    """The profile's autoencoder recipe (components/generator/vae_recipe.py) with params.yaml's
    `vae:` overrides, then `overrides` for this run (e.g. {"preset": "kl_f4", "max_minutes": 30})."""

    def resolve(self) -> VaeRecipe:
        return resolve_vae_recipe(self.recipe, {**PARAMS.vae, **self.overrides})


def reconstruction_grid(vae_dir, heldout: np.ndarray) -> MetadataValue:
    """The first held-out images, each above its reconstruction."""
    originals = heldout[:GRID_IMAGES]
    rebuilt = reconstruct(load_vae(vae_dir), originals)
    images = [image for pair in zip(originals, rebuilt, strict=True) for image in pair]
    captions = [text for _ in originals for text in ("original", "reconstruction")]
    return grid_markdown(sample_grid(images, captions, columns=4), "held-out images and their reconstructions")


@asset(
    deps=["web_shards", "curated_captions"],
    group_name="generator",
    kinds={"pytorch", "diffusers"},
    description="The generator's autoencoder (models/vae/, a diffusers AutoencoderKL or AutoencoderTiny "
    "directory): trained on the web images, shared by every caption mix; its report is the share of the "
    "held-out images' objects that the scene parser reads the same after the round trip.",
)
def vae(
    context: AssetExecutionContext, config: VaeConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    recipe = config.resolve()
    storage.claim_dataset_root()
    loaded = load_shard_images(storage.web_shard_tars(), IMAGE_SIZE, recipe.max_images)
    if loaded.skipped:
        context.log.warning(f"skipped while reading the web images: {dict(loaded.skipped)}")
    heldout = heldout_array(load_curated(list_shards(storage.curated_dir()), "heldout", image_size=IMAGE_SIZE))
    out_dir = storage.vae_dir()
    with mlflow.run_for(context) as run:
        run.log_params(config.mlflow_params(recipe))
        result = train_vae(
            recipe,
            images=loaded.images,
            heldout=heldout,
            work_dir=storage.work_dir("vae"),
            out_dir=out_dir,
            seed=config.seed,
            logger=mlflow.lightning_logger(run),
            resume=config.resume,
        )
        run.log_metrics({f"heldout/{k}": float(v) for k, v in result.report.as_dict().items()})
    report = result.report
    context.log.info(
        f"VAE f{result.factor}: {report.objects_kept:.3f} of held-out objects kept, PSNR {report.psnr:.1f} dB"
    )
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(out_dir)),
            "preset": MetadataValue.text(recipe.pretrained or recipe.preset),
            "downsampling_factor": MetadataValue.int(result.factor),
            "scaling_factor": MetadataValue.float(result.scaling_factor),
            "training_images": MetadataValue.int(len(loaded.images)),
            "skipped_images": MetadataValue.json(dict(loaded.skipped)),
            "steps": MetadataValue.int(result.fit.steps if result.fit else 0),
            "minutes": MetadataValue.float(round(result.fit.minutes, 2) if result.fit else 0.0),
            "objects_kept": MetadataValue.float(report.objects_kept),
            "psnr_db": MetadataValue.float(round(report.psnr, 2)),
            "backgrounds_kept": MetadataValue.float(report.backgrounds_kept),
            "scenes_exact": MetadataValue.float(report.scenes_exact),
            "curve": markdown_table(
                ["minutes", "step", "PSNR (dB)", "objects kept", "scenes exact"],
                [[p["minutes"], p["step"], p["psnr"], p["objects_kept"], p["scenes_exact"]] for p in result.curve],
            ),
            "reconstructions": reconstruction_grid(out_dir, heldout),
            "mlflow_run_id": MetadataValue.text(run.run_id),
        }
    )


vae_job = define_asset_job("vae_job", selection=["vae"], description="Train (or load) the autoencoder.")

ASSETS = [vae]
JOBS = [vae_job]
