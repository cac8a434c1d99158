"""The `data` group: `web_shards`, the web-scraped image dataset (one WebDataset shard per
partition), and `curated_captions`, the small human-quality caption set the captioner
fine-tunes on; their blocking check `tar_matches_index`, and their jobs."""

from collections.abc import Sequence

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
)

from components.data.build_world import build_curated_shard, build_web_shard, remove_stale_shards
from components.data.shard_summary import summarize_shards
from components.data.shards import ShardAgreement, compare_shard_index
from components.io.paths import check_output_dir
from recap_dagster.config import WEB_SHARD_PARTITIONS, WorldDataConfig
from recap_dagster.metadata import captions_table, dvc_metadata, grid_markdown, preview_grid, summary_metadata
from recap_dagster.resources import MlflowTracking, ProjectStorage

TAR_MATCHES_INDEX = "tar_matches_index"


def tar_matches_index_spec(asset_name: str, description: str) -> AssetCheckSpec:
    """The blocking check that a shard asset's tars and parquet indexes list the same keys."""
    return AssetCheckSpec(TAR_MATCHES_INDEX, asset=asset_name, blocking=True, description=description)


def tar_matches_index_result(agreements: Sequence[ShardAgreement]) -> AssetCheckResult:
    """Passes when every shard agrees; names each one that does not."""
    failed = [str(a) for a in agreements if not a.ok]
    return AssetCheckResult(
        check_name=TAR_MATCHES_INDEX,
        passed=not failed,
        metadata={"shards": MetadataValue.int(len(agreements)), "failures": MetadataValue.json(failed)},
    )


@asset(
    partitions_def=WEB_SHARD_PARTITIONS,
    check_specs=[tar_matches_index_spec("web_shards", "The shard's tar and its parquet index list the same keys.")],
    group_name="data",
    kinds={"webdataset", "parquet"},
    description="The web image dataset in img2dataset layout (data/web_shards/NNNNN.tar + .parquet): "
    "shapes-world images with noisy alt-text captions.",
)
def web_shards(
    context: AssetExecutionContext, config: WorldDataConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    profile, world = config.resolve()
    out_dir = storage.web_shards_dir()
    check_output_dir(out_dir)
    with mlflow.run_for(context) as run:
        written = build_web_shard(out_dir, int(context.partition_key), profile=profile, world=world, seed=config.seed)
        removed = remove_stale_shards(out_dir, keep=profile.web_shards)  # from a larger profile
        agreement = compare_shard_index(written.tar_path, written.index_path)
        summary = summarize_shards([written.tar_path], count_fields=("world_alt_text_kind",))
        grid = preview_grid(summary)
        run.log_params(
            {
                "profile": profile.name,
                "seed": config.seed,
                "shard": context.partition_key,
                **{f"dataset.{k}": v for k, v in profile.to_dict().items()},
            }
        )
        run.log_metrics({"samples": summary.samples, "skipped": sum(summary.skipped.values()), **summary.caption_stats})
        run.log_dict({"counts": summary.counts, "skipped": summary.skipped}, "stats.json")
        run.log_image(grid, "samples.png")
    context.log.info(f"wrote {written.tar_path}: {summary.samples} samples; removed stale {[p.name for p in removed]}")
    return MaterializeResult(
        metadata={
            **summary_metadata(summary),
            **dvc_metadata(out_dir, [written.tar_path, written.index_path]),
            "samples_grid": grid_markdown(grid, f"web shard {context.partition_key}"),
            "sample_captions": captions_table(summary),
            "mlflow_run_id": MetadataValue.text(run.run_id),
        },
        check_results=[tar_matches_index_result([agreement])],
    )


@asset(
    check_specs=[
        tar_matches_index_spec(
            "curated_captions", "Every curated shard's tar and its parquet index list the same keys."
        )
    ],
    group_name="data",
    kinds={"webdataset", "parquet"},
    description="The curated descriptive caption set (data/curated/NNNNN.tar + .parquet): short and "
    "descriptive captions per image, split into train and heldout.",
)
def curated_captions(
    context: AssetExecutionContext, config: WorldDataConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    profile, world = config.resolve()
    out_dir = storage.curated_dir()
    check_output_dir(out_dir)
    with mlflow.run_for(context) as run:
        written = [
            build_curated_shard(out_dir, index, profile=profile, world=world, seed=config.seed)
            for index in range(profile.curated_shards)
        ]
        removed = remove_stale_shards(out_dir, keep=profile.curated_shards)
        agreements = [compare_shard_index(w.tar_path, w.index_path) for w in written]
        summary = summarize_shards(
            [w.tar_path for w in written],
            caption_fields=("short_caption", "descriptive_caption"),
            count_fields=("split",),
            preview_field="short_caption",
        )
        grid = preview_grid(summary)
        run.log_params(
            {"profile": profile.name, "seed": config.seed, **{f"dataset.{k}": v for k, v in profile.to_dict().items()}}
        )
        run.log_metrics({"samples": summary.samples, **summary.caption_stats})
        run.log_dict({"counts": summary.counts, "skipped": summary.skipped}, "stats.json")
        run.log_image(grid, "samples.png")
    if removed:
        context.log.info(f"removed stale shards: {[p.name for p in removed]}")
    files = [p for w in written for p in (w.tar_path, w.index_path)]
    return MaterializeResult(
        metadata={
            **summary_metadata(summary),
            **dvc_metadata(out_dir, files),
            "samples_grid": grid_markdown(grid, "curated set (short captions)"),
            "sample_captions": captions_table(summary, ("short_caption", "descriptive_caption", "split")),
            "mlflow_run_id": MetadataValue.text(run.run_id),
        },
        check_results=[tar_matches_index_result(agreements)],
    )


web_shards_job = define_asset_job(
    "web_shards_job", selection=[web_shards], description="Builds web shards, one partition per run."
)
curated_captions_job = define_asset_job("curated_captions_job", selection=[curated_captions])

ASSETS = [web_shards, curated_captions]
JOBS = [web_shards_job, curated_captions_job]
