"""The `generator` group: `vae`, the autoencoder that every caption mix's generator shares
(trained once per dataset on the web images, never on a caption), measured by how many of
the held-out images' objects the scene parser still reads after the round trip; and
`generator`, one latent-diffusion generator per caption mix (a partition per mix spec),
judged clause by clause on prompts whose truth is known and exported as a diffusers pipeline."""

import tempfile
from pathlib import Path

import numpy as np
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    StaticPartitionsDefinition,
    TableMetadataValue,
    asset,
    define_asset_job,
)

from components.curation.mix import DEFAULT_MIX
from components.data.preview import sample_grid
from components.data.shard_layout import list_shards
from components.generator.train.recipe import GeneratorRecipe, resolve_generator_recipe
from components.io.hashing import directory_version
from components.safety.saved import save_policy
from components.vae.train.recipe import VaeRecipe, resolve_vae_recipe
from components.world import IMAGE_SIZE  # the generator works at the world's canvas; a user's images are resized to it
from recap_dagster.config import PARAMS, SOURCE, TrainingRunConfig
from recap_dagster.defs.curation import all_mix_specs, uses_oracle
from recap_dagster.metadata import dvc_metadata, grid_markdown, metadata_table
from recap_dagster.pools import TRAINER_POOL
from recap_dagster.resources import MlflowTracking, ProjectStorage

GRID_IMAGES = 8


class VaeConfig(TrainingRunConfig):
    """The profile's autoencoder recipe (components/vae/train/recipe.py) with params.yaml's
    `vae:` overrides, then `overrides` for this run (e.g. {"preset": "kl_f4", "max_minutes": 30})."""

    def resolve(self) -> VaeRecipe:
        return self.scaled(resolve_vae_recipe(self.recipe, {**PARAMS.vae, **self.overrides}))


def reconstruction_grid(vae_dir, heldout: np.ndarray) -> MetadataValue:
    """The first held-out images, each above its reconstruction."""
    from components.vae.checkpoint import load_vae
    from components.vae.metrics import reconstruct

    originals = heldout[:GRID_IMAGES]
    rebuilt = reconstruct(load_vae(vae_dir), originals)
    images = [image for pair in zip(originals, rebuilt, strict=True) for image in pair]
    captions = [text for _ in originals for text in ("original", "reconstruction")]
    return grid_markdown(sample_grid(images, captions, columns=4), "held-out images and their reconstructions")


@asset(
    deps=["web_shards", "curated_captions"],
    group_name="generator",
    kinds={"pytorch", "diffusers"},
    pool=TRAINER_POOL,
    description="The generator's autoencoder (models/vae/, a diffusers AutoencoderKL or AutoencoderTiny "
    "directory): trained on the web images, shared by every caption mix; its report is the share of the "
    "held-out images' objects that the scene parser reads the same after the round trip.",
)
def vae(
    context: AssetExecutionContext, config: VaeConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    # Lightning, diffusers and transformers: imported when the asset runs, not when the
    # definitions load (benchmarks/definitions_load.py: 12.6 s against 23.3 s on a 2-core EPYC).
    from components.data.curated import load_curated
    from components.vae.train.stage import heldout_array, load_shard_images, train_vae

    recipe = config.resolve()
    storage.claim_dataset_root()
    loaded = load_shard_images(storage.web_shard_tars(), IMAGE_SIZE, recipe.max_images)
    if loaded.skipped:
        context.log.warning(f"skipped while reading the web images: {dict(loaded.skipped)}")
    heldout = heldout_array(load_curated(list_shards(storage.curated_dir()), "heldout", image_size=IMAGE_SIZE))
    out_dir = storage.vae_dir()
    with mlflow.run_for(context, system_metrics=True) as run:
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
            **dvc_metadata(out_dir),
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
            "curve": metadata_table(
                ["minutes", "step", "PSNR (dB)", "objects kept", "scenes exact"],
                [[p["minutes"], p["step"], p["psnr"], p["objects_kept"], p["scenes_exact"]] for p in result.curve],
            ),
            "reconstructions": reconstruction_grid(out_dir, heldout),
            **run.dagster_metadata(),
        }
    )


MIX_PARTITIONS = StaticPartitionsDefinition(list(all_mix_specs()))
# What `recap materialize --all` (the main job) trains: the claim's two ends on `quick`, the
# whole ablation on `paper` (the oracle mix only where the truth is known).
MAIN_JOB_MIXES = {
    "quick": ["original_only", DEFAULT_MIX],
    "paper": [name for name, spec in all_mix_specs().items() if SOURCE is None or not uses_oracle(spec)],
}
REGISTERED_GENERATOR = "recap-generator"


class GeneratorConfig(TrainingRunConfig):
    """The profile's generator recipe (components/generator/train/recipe.py) with params.yaml's
    `generator:` overrides, then `overrides` for this run (e.g. {"objective": "v_zero_snr", "max_minutes": 30})."""

    def resolve(self) -> GeneratorRecipe:
        return self.scaled(resolve_generator_recipe(self.recipe, {**PARAMS.generator, **self.overrides}))


def figures_table(figures) -> TableMetadataValue:
    return metadata_table(
        ["figure", "share", "95% interval", "images"],
        [[name, round(s.value, 3), f"[{s.interval[0]:.2f}, {s.interval[1]:.2f}]", s.n] for name, s in figures.items()],
    )


@asset(
    # the mix's images come from every web shard, whatever mix this partition is; the prompt
    # upsampler is bundled into the registered model (automation.py: it retrains nothing)
    deps=["training_mix", "vae", AssetDep("web_shards", partition_mapping=AllPartitionMapping()), "prompt_upsampler"],
    partitions_def=MIX_PARTITIONS,
    group_name="generator",
    kinds={"pytorch", "diffusers"},
    pool=TRAINER_POOL,
    metadata={"recap/main_job_partitions": MAIN_JOB_MIXES},
    description="A latent-diffusion generator per caption mix (models/generator/<mix>/, a diffusers "
    "StableDiffusionPipeline directory that DiffusionPipeline.from_pretrained loads): a U-Net "
    "cross-attending to a frozen text encoder, trained on the mix's cached latents and caption "
    "embeddings, judged clause by clause on prompts whose truth is known; registered as recap-generator.",
)
def generator(
    context: AssetExecutionContext, config: GeneratorConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    from components.evaluation.generator_eval import eval_prompts, prompt_judge
    from components.generator.text_encoder import load_text_encoder
    from components.generator.train.data import build_training_set
    from components.generator.train.stage import train_generator  # heavy: imported when the asset runs
    from components.vae.checkpoint import load_vae

    mix = context.partition_key
    recipe = config.resolve()
    storage.claim_dataset_root()
    manifest_path = storage.mix_dir() / f"{mix}.parquet"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no manifest for mix {mix!r} at {manifest_path}: materialize training_mix first")
    vae_dir = storage.vae_dir()
    vae_model = load_vae(vae_dir)
    encoder = load_text_encoder(recipe.text_encoder, recipe.max_tokens)
    work_dir = storage.work_dir("generator") / mix
    training_set = build_training_set(
        mix,
        manifest_path,
        {tar.stem: tar for tar in storage.web_shard_tars()},
        vae=vae_model,
        vae_version=directory_version(vae_dir),
        encoder=encoder,
        encoder_name=recipe.text_encoder,
        image_size=IMAGE_SIZE,
        cache_dir=work_dir / "cache",
        max_rows=recipe.max_rows,
    )
    info = training_set.info
    if info["skipped"]:
        context.log.warning(f"mix {mix}: rows skipped while caching: {info['skipped']}")
    out_dir = storage.generator_dir(mix)
    with mlflow.run_for(context, extra_tags={"recap.mix": mix}, system_metrics=True) as run:
        run.log_params({**config.mlflow_params(recipe), "mix": mix, "rows": info["rows"]})
        result = train_generator(
            recipe,
            training_set,
            vae=vae_model,
            encoder=encoder,
            judge=prompt_judge(eval_prompts(recipe.eval_prompts)),
            work_dir=work_dir,
            out_dir=out_dir,
            seed=config.seed,
            logger=mlflow.lightning_logger(run),
            resume=config.resume,
        )
        run.log_metrics({f"final/{k}": s.value for k, s in result.summary.items()}, step=result.fit.steps)
        run.log_image(result.grid, "samples/final.png")
        if result.grid_dir.is_dir():
            run.log_artifact(result.grid_dir, "samples/curve")
        upsampler_dir = storage.upsampler_dir()
        bundled = {"upsampler": upsampler_dir} if upsampler_dir.is_dir() else {}
        policy = PARAMS.safety_policy()
        with tempfile.TemporaryDirectory(prefix="recap-safety-") as tmp:  # the served model checks prompts by it
            bundled["safety"] = save_policy(policy, Path(tmp) / "safety")
            version = run.register_model(
                out_dir,
                REGISTERED_GENERATOR,
                f"newest_{mix}",
                tags={
                    "mix": mix,
                    "pipeline_hash": directory_version(out_dir),  # C2PA claims name the version by it
                    "upsampler": directory_version(upsampler_dir) if upsampler_dir.is_dir() else "none",
                    "safety_policy": policy.version,
                },
                champion_metric="final/long/all",
                extra_artifacts=bundled,
            )
    figures = result.figures
    context.log.info(f"generator[{mix}]: " + ", ".join(f"{k} {s.value:.2f}" for k, s in figures.items()))
    return MaterializeResult(
        metadata={
            **dvc_metadata(out_dir),
            "mix": MetadataValue.text(mix),
            "rows": MetadataValue.int(info["rows"]),
            "skipped_rows": MetadataValue.json(info["skipped"]),
            "truncated_captions": MetadataValue.int(info["truncated"]),
            "steps": MetadataValue.int(result.fit.steps),
            "examples_seen": MetadataValue.int(result.fit.steps * recipe.batch_size),
            "minutes": MetadataValue.float(round(result.fit.minutes, 2)),
            **{f"eval/{k}": MetadataValue.float(round(s.value, 4)) for k, s in figures.items()},
            "figures": figures_table(figures),
            "curve": metadata_table(
                ["minutes", "step", *figures],
                [[p.get(k) for k in ("minutes", "step", *figures)] for p in result.curve],
            ),
            "samples": grid_markdown(result.grid, "eval prompts (short, long), PASS when every clause passes"),
            "registered_model": MetadataValue.text(f"{REGISTERED_GENERATOR} v{version} @newest_{mix}"),
            **run.dagster_metadata(),
        }
    )


vae_job = define_asset_job("vae_job", selection=["vae"], description="Train (or load) the autoencoder.")
generator_job = define_asset_job(
    "generator_job",
    selection=["generator"],
    description="Train the generator of one caption mix (a partition); a backfill trains several.",
)

ASSETS = [vae, generator]
JOBS = [vae_job, generator_job]
