"""The `data` group: `web_shards`, the web-scraped image dataset (one WebDataset shard per
partition), and `curated_captions`, the small human-quality caption set the captioner
fine-tunes on; their blocking check `tar_matches_index`, and their jobs.

Each comes from params.yaml's `dataset.source` / `dataset.curated`: the shapes world (built
here) or the user's own data. A user's web shards are only read: materializing one checks
its tar against its index, previews it, and records it (data/web_shards/NNNNN.json, its
location, size and sha256). A user's curated set is validated, split by seed and written
as the world's curated set is (components/data/user_curated.py).
"""

from collections.abc import Sequence
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    DynamicPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
)

from components.data.build_world import build_curated_shard, build_web_shard, remove_stale_shards
from components.data.shard_check import ShardAgreement, compare_shard_index
from components.data.shard_summary import ShardSummary, summarize_shards
from components.data.source import WORLD, write_shard_record
from components.data.user_curated import CuratedImport, CuratedLimits, import_user_curated
from recap_dagster.config import SOURCE, WEB_SHARD_PARTITIONS, WorldDataConfig
from recap_dagster.data_versions import content_version
from recap_dagster.defs.inbox import shard_inbox_sensor
from recap_dagster.metadata import captions_table, dvc_metadata, grid_markdown, preview_grid, summary_metadata
from recap_dagster.project import load_params, project_root
from recap_dagster.resources import MlflowTracking, ProjectStorage
from recap_dagster.retries import retried_when_transient

TAR_MATCHES_INDEX = "tar_matches_index"


def tar_matches_index_spec(asset_name: str, description: str, *, blocking: bool = True) -> AssetCheckSpec:
    """The check that a shard asset's tars and parquet indexes list the same keys."""
    return AssetCheckSpec(TAR_MATCHES_INDEX, asset=asset_name, blocking=blocking, description=description)


def tar_index_agreement(tar_path: Path) -> ShardAgreement:
    """compare_shard_index, or a failed agreement naming the missing index."""
    index_path = tar_path.with_suffix(".parquet")
    if index_path.is_file():
        return compare_shard_index(tar_path, index_path)
    return ShardAgreement(False, 0, 0, [], [], [], [], False, f"no_index: {index_path.name} is not beside the tar")


def tar_matches_index_result(
    agreements: Sequence[ShardAgreement], severity: AssetCheckSeverity = AssetCheckSeverity.ERROR
) -> AssetCheckResult:
    """Passes when every shard agrees; names each one that does not."""
    failed = [str(a) for a in agreements if not a.ok]
    return AssetCheckResult(
        check_name=TAR_MATCHES_INDEX,
        passed=not failed,
        severity=severity,
        metadata={"shards": MetadataValue.int(len(agreements)), "failures": MetadataValue.json(failed)},
    )


@asset(
    partitions_def=WEB_SHARD_PARTITIONS,
    # A user's shard may disagree with its index (img2dataset cut short, a member lost): a
    # warning, not a stop, since recaptioning gives every key of both a row saying why.
    check_specs=[
        tar_matches_index_spec(
            "web_shards", "The shard's tar and its parquet index list the same keys.", blocking=SOURCE is None
        )
    ],
    group_name="data",
    kinds={"webdataset", "parquet"},
    description="The web image dataset in img2dataset layout (NNNNN.tar + .parquet): the shapes world's "
    "images with noisy alt-text captions (built in data/web_shards/), or the shards of params.yaml's "
    "dataset.source, read in place and recorded in data/web_shards/NNNNN.json.",
)
@retried_when_transient  # a remote source's dropped read, a busy GPU: retried with backoff
def web_shards(
    context: AssetExecutionContext, config: WorldDataConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    storage.claim_dataset_root()  # a bad path or another dataset's root stops here, before any work
    source = storage.shard_source()
    out_dir = storage.web_shards_dir()
    with mlflow.run_for(context) as run:
        if source is None:
            profile, world = config.resolve()
            written = build_web_shard(
                out_dir, int(context.partition_key), profile=profile, world=world, seed=config.seed
            )
            removed = remove_stale_shards(out_dir, keep=profile.web_shards)  # from a larger profile
            tar_path, files = written.tar_path, [written.tar_path, written.index_path]
            params = {
                "profile": profile.name,
                "seed": config.seed,
                **{f"dataset.{k}": v for k, v in profile.to_dict().items()},
            }
            context.log.info(f"wrote {tar_path}; removed stale {[p.name for p in removed]}")
        else:
            tar_path = storage.web_shard_tar(context.partition_key)  # read, never written
            files = [write_shard_record(out_dir, source, context.partition_key, tar_path)]
            params = {"source": source.location}
            context.log.info(f"recorded {source.remote_url(context.partition_key, '.tar')} in {files[0]}")
        agreement = tar_index_agreement(tar_path)
        summary = summarize_shards([tar_path], count_fields=("world_alt_text_kind",) if source is None else ())
        grid = preview_grid(summary)
        run.log_params({**params, "shard": context.partition_key})
        log_summary(run, summary)
        run.log_image(grid, "samples.png")
    return MaterializeResult(
        metadata={
            "source": MetadataValue.text(WORLD if source is None else source.location),
            **summary_metadata(summary),
            **dvc_metadata(out_dir, files),
            "samples_grid": grid_markdown(grid, f"web shard {context.partition_key}"),
            "sample_captions": captions_table(summary),
            **run.dagster_metadata(),
        },
        data_version=content_version(files),  # what it wrote, not when: an unchanged rerun changes nothing downstream
        check_results=[
            tar_matches_index_result(
                [agreement], AssetCheckSeverity.ERROR if source is None else AssetCheckSeverity.WARN
            )
        ],
    )


def log_summary(run, summary: ShardSummary) -> None:
    run.log_metrics({"samples": summary.samples, "skipped": sum(summary.skipped.values()), **summary.caption_stats})
    run.log_dict({"counts": summary.counts, "skipped": summary.skipped}, "stats.json")


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
    storage.claim_dataset_root()
    out_dir = storage.curated_dir()
    curated = load_params().curated_text()
    with mlflow.run_for(context) as run:
        imported: CuratedImport | None = None
        if curated == WORLD:
            profile, world = config.resolve()
            tars = [
                build_curated_shard(out_dir, index, profile=profile, world=world, seed=config.seed).tar_path
                for index in range(profile.curated_shards)
            ]
            run.log_params(
                {
                    "profile": profile.name,
                    "seed": config.seed,
                    **{f"dataset.{k}": v for k, v in profile.to_dict().items()},
                }
            )
        else:
            location = Path(curated).expanduser()
            location = location if location.is_absolute() else project_root() / location
            imported = import_user_curated(location, out_dir, seed=config.seed, limits=CuratedLimits())
            tars = imported.shards
            run.log_params({"curated": str(location), "seed": config.seed})
            run.log_metrics({"rejected": sum(imported.rejected.values())})
            context.log.info(
                f"kept {imported.kept} curated rows {dict(imported.splits)}; rejected {dict(imported.rejected)}"
            )
        if removed := remove_stale_shards(out_dir, keep=len(tars)):
            context.log.info(f"removed stale shards: {[p.name for p in removed]}")
        agreements = [tar_index_agreement(tar) for tar in tars]
        summary = summarize_shards(
            tars,
            caption_fields=("short_caption", "descriptive_caption"),
            count_fields=("split",),
            preview_field="short_caption",
        )
        grid = preview_grid(summary)
        log_summary(run, summary)
        run.log_image(grid, "samples.png")
    files = [p for tar in tars for p in (tar, tar.with_suffix(".parquet"))]
    rejected = (
        {}
        if imported is None
        else {
            "rejected": MetadataValue.json(dict(imported.rejected)),
            "rejected_keys": MetadataValue.json(imported.rejected_keys),
        }
    )
    return MaterializeResult(
        metadata={
            "curated": MetadataValue.text(curated),
            **rejected,
            **summary_metadata(summary),
            **dvc_metadata(out_dir, files),
            "samples_grid": grid_markdown(grid, "curated set (short captions)"),
            "sample_captions": captions_table(summary, ("short_caption", "descriptive_caption", "split")),
            **run.dagster_metadata(),
        },
        data_version=content_version(files),  # what it wrote, not when: an unchanged rerun changes nothing downstream
        check_results=[tar_matches_index_result(agreements)],
    )


web_shards_job = define_asset_job(
    "web_shards_job",
    selection=[web_shards],
    description="Builds the world's web shards, or checks and records a user source's, one partition per run.",
)
curated_captions_job = define_asset_job("curated_captions_job", selection=[curated_captions])


ASSETS = [web_shards, curated_captions]
JOBS = [web_shards_job, curated_captions_job]
SENSORS = (
    [shard_inbox_sensor(SOURCE, WEB_SHARD_PARTITIONS)]
    if SOURCE is not None and isinstance(WEB_SHARD_PARTITIONS, DynamicPartitionsDefinition)
    else []
)
