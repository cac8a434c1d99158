"""`recaptioned_shards`: every web shard recaptioned by the captioner into a sidecar parquet.

One partition per web shard. A backfill runs up to SHARDS_PER_RUN shards per run (the
model loads once per run); the `captioner` concurrency pool caps how many recaptioning
steps run at once across runs (set its limit to the number of GPUs: each step leases a
free GPU, components/recaption/device_lease.py). With `engine: ray` in its run config the
run's shards go to a pool of Ray actors instead, one per GPU of the cluster at `ray_address`
(a local cluster when it is empty): components/recaption/ray_pool.py. The sidecar folder may
be an object store URL (`recap recaption --out s3://...`): components/recaption/sidecar_store.py.
"""

from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    TableMetadataValue,
    asset,
    define_asset_job,
)

from components.overrides import flatten
from components.recaption.ray_pool import RayPoolSettings, check_address, run_recaption_on_ray  # ray: imported on use
from components.recaption.recaption_shard import ShardReport
from components.recaption.run import RunInfo, run_recaption
from components.recaption.settings import RecaptionSettings
from components.recaption.sidecar import compare_sidecar_keys
from recap_dagster.config import PARAMS, WEB_SHARD_PARTITIONS
from recap_dagster.metadata import dvc_file_metadata, metadata_table
from recap_dagster.pools import RECAPTION_POOL
from recap_dagster.resources import MlflowTracking, ProjectStorage
from recap_dagster.retries import retried_when_transient

SIDECAR_KEYS_MATCH_SHARD = "sidecar_keys_match_shard"
SHARDS_PER_RUN = 8
ENGINES = ("local", "ray")


class RecaptionConfig(Config):
    """params.yaml's `recaption:` settings (components/recaption/settings.py), overridden once
    more for one run by `overrides`, e.g. {"batch_size": 32, "device": "cuda", "top_p": 0.8}."""

    seed: int = PARAMS.seed
    force: bool = False  # recaption shards whose sidecar is already current
    progress: bool = True  # a console progress bar per shard
    overrides: dict[str, Any] = {}  # RecaptionSettings overrides for this run (components/overrides.py)
    engine: str = "local"  # local: in this process, the model loaded once; ray: a pool of Ray actors
    ray_address: str = ""  # engine ray: "" a local cluster for the run; "auto", "host:6379" or "ray://host:10001"
    ray_actors: int = 0  # engine ray: 0 is one actor per GPU of the cluster (without GPUs, one per CPU)

    def resolve(self) -> RecaptionSettings:
        return RecaptionSettings.with_overrides({**PARAMS.recaption, **self.overrides})

    def ray_pool(self) -> RayPoolSettings | None:
        """The Ray pool of engine "ray", None for "local"; ValueError naming a bad engine or pool setting."""
        if self.engine not in ENGINES:
            raise ValueError(f"engine={self.engine!r} must be one of {list(ENGINES)}")
        if self.engine == "local":
            return None
        return RayPoolSettings(address=self.ray_address.strip(), actors=self.ray_actors)


def samples_table(report: ShardReport) -> TableMetadataValue:
    return metadata_table(
        ["key", "status", "original", "short", "long"],
        [
            [
                row["key"],
                row["status"],
                row["original_caption"],
                row["short_caption"],
                row["long_caption"],
            ]
            for row in report.samples
        ],
    )


def report_metadata(report: ShardReport) -> dict:
    where = (  # a sidecar in an object store: its URL (DVC hashes local files only)
        {"sidecar": MetadataValue.url(report.url)}
        if report.url
        else {
            "sidecar": MetadataValue.path(str(report.sidecar)),
            **dvc_file_metadata(report.sidecar.parent, [report.sidecar]),
        }
    )
    return {
        **where,
        "skipped_as_current": MetadataValue.bool(report.skipped),
        "rows": MetadataValue.int(report.rows),
        "ok": MetadataValue.int(report.counts.get("ok", 0)),
        "error": MetadataValue.int(report.counts.get("error", 0)),
        "error_reasons": MetadataValue.json(report.reasons),
        "shard_problems": MetadataValue.json([list(p) for p in report.shard_problems]),
        "resized": MetadataValue.int(report.resized),
        "captions_cut_at_limit": MetadataValue.int(report.cut),
        "images_per_second": MetadataValue.float(round(report.images_per_second, 2)),
        "tokens_per_second": MetadataValue.float(round(report.tokens_per_second, 1)),
        "sample_captions": samples_table(report),
    }


@asset(
    partitions_def=WEB_SHARD_PARTITIONS,
    deps=["web_shards", "captioner"],
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=SHARDS_PER_RUN),
    pool=RECAPTION_POOL,
    check_specs=[
        AssetCheckSpec(
            SIDECAR_KEYS_MATCH_SHARD,
            asset="recaptioned_shards",
            blocking=True,
            description="Each sidecar has exactly one row per key of its shard, corrupt samples included.",
        )
    ],
    group_name="recaption",
    kinds={"pytorch", "parquet"},
    description="Short and long synthetic captions for every web image, one sidecar parquet per shard "
    "(data/recaptioned/NNNNN.parquet), written by the captioner with nucleus sampling.",
)
@retried_when_transient  # a remote source's dropped read, a busy GPU: retried with backoff
def recaptioned_shards(
    context: AssetExecutionContext, config: RecaptionConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    settings = config.resolve()
    pool = config.ray_pool()
    storage.claim_sidecar_dir()  # a sidecar folder that is a file or holds another dataset's: before any work
    shards = list(context.partition_keys)
    tar_paths = [storage.web_shard_tar(key) for key in shards]  # a user source's shard gone since listed: fails here
    if missing := [str(p) for p in tar_paths if not p.is_file()]:
        raise FileNotFoundError(f"web shards not found: {missing}; materialize web_shards first")
    if not storage.captioner_dir().is_dir():
        hint = "pass --captioner" if storage.captioner_root else "materialize captioner first"
        raise FileNotFoundError(f"no captioner at {storage.captioner_dir()}; {hint}")
    if pool is not None and pool.address:
        check_address(pool.address, pool.connect_timeout_s)  # an address that does not answer: before MLflow
    with mlflow.run_for(context) as run:

        def on_start(info: RunInfo) -> None:
            version, device = info.captioner_version, info.device
            context.log.info(f"recaptioning {info.shards} shards on {device} with captioner {version}")
            run.log_params(
                {
                    "captioner_version": version,
                    "device": device,
                    "seed": config.seed,
                    "shards": info.shards,
                    **{f"recaption.{k}": v for k, v in flatten(settings).items()},
                }
            )

        def on_report(report: ShardReport) -> None:
            step = shards.index(report.shard)
            if not report.skipped:
                run.log_metrics(
                    {
                        "images_per_second": report.images_per_second,
                        "tokens_per_second": report.tokens_per_second,
                        "rows": report.rows,
                        "errors": report.counts.get("error", 0),
                    },
                    step=step,
                )
            context.add_asset_metadata(report_metadata(report), partition_key=report.shard)
            context.log.info(
                f"shard {report.shard}: {report.counts} "
                f"{'(current, skipped)' if report.skipped else f'{report.images_per_second:.1f} img/s'}"
            )

        if pool is None:
            result = run_recaption(
                tar_paths,
                storage.recaptioned_location(),
                storage.captioner_dir(),
                settings,
                seed=config.seed,
                locks_dir=storage.device_locks_dir(),
                force=config.force,
                progress=config.progress,
                on_start=on_start,
                on_report=on_report,
            )
        else:
            result = run_recaption_on_ray(
                ray_shards(storage, shards, tar_paths, pool),
                storage.recaptioned_location(),
                storage.captioner_dir(),
                settings,
                seed=config.seed,
                pool=pool,
                force=config.force,
                on_start=on_start,
                on_report=on_report,
            )
        if result.images_per_second is not None and result.tokens_per_second is not None:
            run.log_metrics(
                {"run/images_per_second": result.images_per_second, "run/tokens_per_second": result.tokens_per_second}
            )
    agreements = {  # a sidecar in an object store is read back from there
        r.shard: compare_sidecar_keys(r.url or r.sidecar, tar) for r, tar in zip(result.reports, tar_paths, strict=True)
    }
    return MaterializeResult(
        metadata={
            "captioner_version": MetadataValue.text(result.captioner_version),
            "device": MetadataValue.text(result.device),
            **run.dagster_metadata(),
        },
        check_results=[
            AssetCheckResult(
                check_name=SIDECAR_KEYS_MATCH_SHARD,
                passed=all(a.ok for a in agreements.values()),
                metadata={"shards": MetadataValue.json({s: a.summary() for s, a in agreements.items()})},
            )
        ],
    )


def ray_shards(storage: ProjectStorage, shards: list[str], tar_paths: list, pool: RayPoolSettings) -> list[str]:
    """What the Ray actors read: the local tars for a local cluster; for a cluster at an address,
    an object store source's URLs (each worker copies its own shards; local paths must be on a
    volume the workers share)."""
    source = storage.shard_source()
    if pool.address and source is not None and not source.is_local:
        return [source.remote_url(key, ".tar") for key in shards]
    return [str(p) for p in tar_paths]


recaption_job = define_asset_job(
    "recaption_job",
    selection=[recaptioned_shards],
    description="Recaptions web shards into sidecar parquets; a backfill runs several shards per run.",
)

ASSETS = [recaptioned_shards]
JOBS = [recaption_job]  # recaption_k8s_job: the Kubernetes code location's (recap_dagster/k8s_definitions.py)
