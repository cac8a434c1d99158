"""`recaptioned_shards`: every web shard recaptioned by the captioner into a sidecar parquet.

One partition per web shard. A backfill runs up to SHARDS_PER_RUN shards per run (the
model loads once per run); the `captioner` concurrency pool caps how many recaptioning
steps run at once across runs (set its limit to the number of GPUs: each step leases a
free GPU, components/recaption/device_lease.py).
"""

import torch
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
)

from components.recaption.device_lease import lease_device
from components.recaption.engine import CaptionEngine
from components.recaption.load import captioner_version, load_trained_captioner
from components.recaption.recaption_shard import ShardReport, recaption_shards
from components.recaption.settings import RecaptionSettings
from components.recaption.sidecar import compare_sidecar_keys
from recap_dagster.config import PARAMS, WEB_SHARD_PARTITIONS
from recap_dagster.metadata import table_cell
from recap_dagster.resources import MlflowTracking, ProjectStorage

SIDECAR_KEYS_MATCH_SHARD = "sidecar_keys_match_shard"
SHARDS_PER_RUN = 8
POOL = "captioner"


class RecaptionConfig(Config):
    """params.yaml's `recaption:` settings (components/recaption/settings.py), overridden
    once more for one run by the fields set here."""

    seed: int = PARAMS.seed
    force: bool = False  # recaption shards whose sidecar is already current
    batch_size: int | None = None  # images whose two captions decode at once (2 x batch_size rows)
    device: str | None = None  # auto | cuda | cuda:N | cpu
    top_p: float | None = None
    temperature: float | None = None
    progress: bool = True  # a console progress bar per shard

    def resolve(self) -> RecaptionSettings:
        overrides = dict(PARAMS.recaption)
        for name in ("batch_size", "device", "top_p", "temperature"):
            if getattr(self, name) is not None:
                overrides[name] = getattr(self, name)
        return RecaptionSettings.with_overrides(overrides)


def samples_markdown(report: ShardReport) -> MetadataValue:
    lines = ["| key | status | original | short | long |", "|---|---|---|---|---|"]
    for row in report.samples:
        cells = [row["key"], row["status"], row["original_caption"] or "", row["short_caption"] or "",
                 row["long_caption"] or ""]  # fmt: skip
        lines.append("| " + " | ".join(table_cell(str(c)) for c in cells) + " |")
    return MetadataValue.md("\n".join(lines))


def report_metadata(report: ShardReport) -> dict:
    return {
        "sidecar": MetadataValue.path(str(report.sidecar)),
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
        "sample_captions": samples_markdown(report),
    }


@asset(
    partitions_def=WEB_SHARD_PARTITIONS,
    deps=["web_shards", "captioner"],
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=SHARDS_PER_RUN),
    pool=POOL,
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
def recaptioned_shards(
    context: AssetExecutionContext, config: RecaptionConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    settings = config.resolve()
    shards = list(context.partition_keys)
    tar_paths = [storage.web_shards_dir() / f"{key}.tar" for key in shards]
    if missing := [str(p) for p in tar_paths if not p.is_file()]:
        raise FileNotFoundError(f"web shards not found: {missing}; materialize web_shards first")
    model_dir = storage.models_path() / "captioner"
    version = captioner_version(model_dir)
    out_dir = storage.data_path() / "recaptioned"
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    with lease_device(settings.device, storage.work_path("device_locks")) as device, mlflow.run_for(context) as run:
        model, tokenizer = load_trained_captioner(model_dir, device=device)
        engine = CaptionEngine(model, tokenizer, settings.sampling(config.seed), compact_below=settings.compact_below)
        context.log.info(f"recaptioning {len(shards)} shards on {device} with captioner {version}")
        run.log_params({"captioner_version": version, "device": device, "seed": config.seed, "shards": len(shards),
                        **{f"recaption.{k}": v for k, v in settings.to_dict().items()}})  # fmt: skip

        def on_report(report: ShardReport) -> None:
            step = shards.index(report.shard)
            if not report.skipped:
                run.log_metrics({"images_per_second": report.images_per_second,
                                 "tokens_per_second": report.tokens_per_second, "rows": report.rows,
                                 "errors": report.counts.get("error", 0)}, step=step)  # fmt: skip
            context.add_asset_metadata(report_metadata(report), partition_key=report.shard)
            context.log.info(f"shard {report.shard}: {report.counts} "
                             f"{'(current, skipped)' if report.skipped else f'{report.images_per_second:.1f} img/s'}")

        reports = recaption_shards(tar_paths, out_dir, engine, captioner_version=version, stream=settings.stream(),
                                   progress=config.progress, force=config.force, on_report=on_report)  # fmt: skip
        done = [r for r in reports if not r.skipped]
        seconds = sum(r.seconds for r in done)
        if done and seconds:
            run.log_metrics({"run/images_per_second": sum(r.counts.get("ok", 0) for r in done) / seconds,
                             "run/tokens_per_second": sum(r.generated_tokens for r in done) / seconds})  # fmt: skip
    agreements = {r.shard: compare_sidecar_keys(r.sidecar, tar) for r, tar in zip(reports, tar_paths, strict=True)}
    return MaterializeResult(
        metadata={"captioner_version": MetadataValue.text(version), "device": MetadataValue.text(device),
                  "mlflow_run_id": MetadataValue.text(run.run_id)},  # fmt: skip
        check_results=[
            AssetCheckResult(
                check_name=SIDECAR_KEYS_MATCH_SHARD,
                passed=all(a.ok for a in agreements.values()),
                metadata={"shards": MetadataValue.json({s: a.summary() for s, a in agreements.items()})},
            )
        ],
    )


recaption_job = define_asset_job(
    "recaption_job", selection=[recaptioned_shards],
    description="Recaptions web shards into sidecar parquets; a backfill runs several shards per run.",
)

ASSETS = [recaptioned_shards]
JOBS = [recaption_job]

try:  # dagster-k8s (the `k8s` extra): the same partitions as pods on a cluster, one GPU each
    from dagster_k8s import k8s_job_executor
except ImportError:  # a local install without the extra
    k8s_job_executor = None
if k8s_job_executor is not None:
    recaption_k8s_job = define_asset_job(
        "recaption_k8s_job", selection=[recaptioned_shards], executor_def=k8s_job_executor,
        description="recaption_job on Kubernetes: each step in its own pod (deploy/k8s/recaption_run_config.yaml).",
    )
    JOBS.append(recaption_k8s_job)
