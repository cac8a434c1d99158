"""The `curation` group: `alignment_model`, the judge that scores how well a caption
describes its image (trained on the curated set alone, separate from the captioner, so
that no model grades its own captions), with its calibrated threshold; and
`filtered_captions`, every recaptioned shard filtered by length, repetition and the judge,
with regeneration and fallback to the original caption."""

from typing import Any

import pandas as pd
import torch
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
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

from components.captioner.loading import load_captioner
from components.curation.filter_shard import CurationSettings, FilterReport, filter_shard
from components.curation.mix import MIX_SPECS, MixSpec, resolve_mix
from components.curation.mix_file import caption_length, read_filtered, write_mix
from components.curation.regenerate import engine_regenerator
from components.curation.safety_screen import screen_rows
from components.data.oracle_captions import oracle_captions
from components.data.preview import sample_grid
from components.data.shard_layout import list_shards
from components.io.hashing import directory_version
from components.judge.checkpoint import load_judge
from components.judge.train.recipe import JudgeRecipe, resolve_judge_recipe
from components.overrides import flatten, with_overrides
from components.recaption.device_lease import lease_device
from recap_dagster.config import PARAMS, SOURCE, WEB_SHARD_PARTITIONS, TrainingRunConfig
from recap_dagster.defs.recaption import SHARDS_PER_RUN
from recap_dagster.metadata import dvc_file_metadata, dvc_metadata, grid_markdown, metadata_table
from recap_dagster.pools import RECAPTION_POOL, TRAINER_POOL
from recap_dagster.resources import MlflowTracking, ProjectStorage
from recap_dagster.retries import retried_when_transient

FILTERED_KEYS_COMPLETE = "filtered_keys_complete"
NO_EMPTY_CAPTION = "no_empty_caption"
FALLBACK_RATE = "fallback_rate"


class AlignmentConfig(TrainingRunConfig):
    """The profile's judge recipe (components/judge/train/stage.py) with params.yaml's
    `alignment:` overrides, then `overrides` for this run (e.g. {"max_steps": 300})."""

    def resolve(self) -> JudgeRecipe:
        return self.scaled(resolve_judge_recipe(self.recipe, {**PARAMS.alignment, **self.overrides}))


def heldout_table(metrics: dict[str, float]) -> TableMetadataValue:
    kinds = sorted({name.split("/")[0] for name in metrics if "/" in name})
    return metadata_table(
        ["perturbation", "pairs", "rejected", "scored below the true caption"],
        [
            [
                kind,
                int(metrics[f"{kind}/n"]),
                round(metrics[f"{kind}/rejected"], 3),
                round(metrics[f"{kind}/ranked_below_true"], 3),
            ]
            for kind in kinds
        ],
    )


@asset(
    deps=["curated_captions"],
    group_name="curation",
    kinds={"pytorch", "safetensors"},
    pool=TRAINER_POOL,
    description="The alignment judge (models/alignment/): image and text towers with a contrastive embedding "
    "and an image-text matching head, trained on the curated pairs with hard negatives made from their own "
    "text; its threshold passes pass_share of the held-out true captions.",
)
def alignment_model(
    context: AssetExecutionContext, config: AlignmentConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    from components.judge.train.stage import train_judge  # Lightning: imported when the asset runs

    recipe = config.resolve()
    storage.claim_dataset_root()
    out_dir = storage.alignment_dir()
    with mlflow.run_for(context, system_metrics=True) as run:
        run.log_params(config.mlflow_params(recipe))
        result = train_judge(
            recipe,
            curated_shards=list_shards(storage.curated_dir()),
            work_dir=storage.work_dir("alignment_model"),
            out_dir=out_dir,
            seed=config.seed,
            logger=mlflow.lightning_logger(run),
            resume=config.resume,
        )
        run.log_metrics({"threshold": result.threshold, **{f"heldout/{k}": v for k, v in result.metrics.items()}})
    context.log.info(f"judge threshold {result.threshold:.4f} ({recipe.score_kind}) after {result.fit.steps} steps")
    return MaterializeResult(
        metadata={
            **dvc_metadata(out_dir),
            "score_kind": MetadataValue.text(recipe.score_kind),
            "threshold": MetadataValue.float(result.threshold),
            "pass_share": MetadataValue.float(recipe.pass_share),
            "steps": MetadataValue.int(result.fit.steps),
            "minutes": MetadataValue.float(round(result.fit.minutes, 2)),
            "heldout_true_pass_share": MetadataValue.float(result.metrics["true_pass_share"]),
            "heldout_hard_negatives": heldout_table(result.metrics),
            **run.dagster_metadata(),
        }
    )


class FilterConfig(Config):
    """params.yaml's `curation:` settings (components/curation/filter_shard.py: filters, attempts,
    fallback_ceiling), overridden for one run by `overrides`, e.g. {"attempts": 1}."""

    seed: int = PARAMS.seed  # the recaptioning seed that regeneration's seeds derive from
    force: bool = False  # refilter shards whose filtered sidecar is current
    overrides: dict[str, Any] = {}

    def resolve(self) -> CurationSettings:
        return with_overrides(PARAMS.curation_settings(), self.overrides, what="curation")


def filter_metadata(report: FilterReport) -> dict[str, Any]:
    from components.evaluation.charts import before_after_histogram  # matplotlib: imported when it draws

    metadata: dict[str, Any] = {
        "filtered": MetadataValue.path(str(report.path)),
        **dvc_file_metadata(report.path.parent, [report.path]),
        "skipped_as_current": MetadataValue.bool(report.skipped),
        "rows": MetadataValue.int(report.rows),
        "sources": MetadataValue.json(report.sources),
        "first_attempt_failures": MetadataValue.json(report.reasons),
        "attempts": MetadataValue.json({str(k): v for k, v in sorted(report.attempts.items())}),
        "fallback_share": MetadataValue.float(round(report.fallback_share, 4)),
    }
    if report.first_scores:
        scores = before_after_histogram(
            report.first_scores, report.kept_scores, title="alignment: first long captions vs kept", xlabel="score"
        )
        words = before_after_histogram(
            report.first_words, report.kept_words, title="length: first long captions vs kept", xlabel="words"
        )
        metadata["score_histogram"] = grid_markdown(scores, "alignment scores before and after filtering")
        metadata["length_histogram"] = grid_markdown(words, "caption lengths before and after filtering")
    if report.examples:
        texts = [f"{e.reason} | least believed: {e.least_believed or '(one sentence)'}" for e in report.examples]
        grid = sample_grid([e.image for e in report.examples], texts)
        metadata["rejected_grid"] = grid_markdown(grid, "rejected long captions: the judge's least believed sentence")
        metadata["rejected_captions"] = metadata_table(
            ["key", "reason", "caption", "least believed sentence"],
            [[e.key, e.reason, e.caption, e.least_believed or ""] for e in report.examples],
        )
    return metadata


@asset(
    partitions_def=WEB_SHARD_PARTITIONS,
    deps=["recaptioned_shards", "alignment_model", "captioner"],
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=SHARDS_PER_RUN),
    pool=RECAPTION_POOL,  # it regenerates captions with the captioner, on the device recaptioning leases
    check_specs=[
        AssetCheckSpec(
            FILTERED_KEYS_COMPLETE,
            asset="filtered_captions",
            blocking=True,
            description="Each filtered sidecar has exactly the keys of its recaptioned sidecar.",
        ),
        AssetCheckSpec(
            NO_EMPTY_CAPTION,
            asset="filtered_captions",
            blocking=True,
            description="Every ok row has a caption for the mixes to draw on.",
        ),
        AssetCheckSpec(
            FALLBACK_RATE,
            asset="filtered_captions",
            description="The share of ok rows that fell back to the original caption stays under fallback_ceiling "
            "(a warning: an undertrained captioner falls back often, and the UI should show it).",
        ),
    ],
    group_name="curation",
    kinds={"pytorch", "parquet"},
    description="Every recaptioned shard filtered (data/filtered/NNNNN.parquet): long captions judged by "
    "length, repetition and the alignment judge, regenerated up to `attempts` times, else replaced by the "
    "original; short and original captions scored too.",
)
@retried_when_transient  # a remote source's dropped read, a busy GPU: retried with backoff
def filtered_captions(
    context: AssetExecutionContext, config: FilterConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    settings = config.resolve()
    storage.claim_dataset_root()
    shards = list(context.partition_keys)
    sidecars = [storage.recaptioned_dir() / f"{key}.parquet" for key in shards]
    if missing := [str(p) for p in sidecars if not p.is_file()]:
        raise FileNotFoundError(f"recaptioned sidecars not found: {missing}; materialize recaptioned_shards first")
    for path, asset_name in ((storage.alignment_dir(), "alignment_model"), (storage.captioner_dir(), "captioner")):
        if not path.is_dir():
            raise FileNotFoundError(f"no {asset_name} at {path}; materialize {asset_name} first")
    tars = [storage.web_shard_tar(key) for key in shards]
    recaption = PARAMS.recaption_settings()
    reports: list[FilterReport] = []
    with lease_device(recaption.device, storage.device_locks_dir()) as device, mlflow.run_for(context) as run:
        judge, manifest = load_judge(storage.alignment_dir(), device)
        captioner = load_captioner(storage.captioner_dir(), device=device)
        regenerate = engine_regenerator(
            captioner, recaption.sampling_for(config.seed), batch_size=recaption.stream.batch_size
        )
        versions = {
            "judge": directory_version(storage.alignment_dir()),
            "captioner": directory_version(storage.captioner_dir()),
        }
        run.log_params(
            {
                "seed": config.seed,
                "threshold": manifest["threshold"],
                "score_kind": manifest["score_kind"],
                **{f"version.{k}": v for k, v in versions.items()},
                **{f"curation.{k}": v for k, v in flatten(settings).items()},
            }
        )
        for step, (key, sidecar, tar) in enumerate(zip(shards, sidecars, tars, strict=True)):
            with torch.inference_mode():
                report = filter_shard(
                    sidecar,
                    tar,
                    storage.filtered_dir(),
                    judge,
                    threshold=float(manifest["threshold"]),
                    judge_version=versions["judge"],
                    settings=settings,
                    regenerate=regenerate,
                    regenerate_size=captioner.image_size,
                    inputs_extra={"captioner_version": versions["captioner"], "seed": config.seed},
                    force=config.force,
                )
            reports.append(report)
            if not report.skipped:
                run.log_metrics({"fallback_share": report.fallback_share, "rows": report.rows}, step=step)
            context.add_asset_metadata(filter_metadata(report), partition_key=key)
            context.log.info(f"shard {key}: {report.sources} {'(current, skipped)' if report.skipped else ''}")
    return MaterializeResult(
        metadata={
            "threshold": MetadataValue.float(float(manifest["threshold"])),
            **run.dagster_metadata(),
        },
        check_results=filter_checks(reports, sidecars, settings),
    )


def filter_checks(reports: list[FilterReport], sidecars: list, settings: CurationSettings) -> list[AssetCheckResult]:
    incomplete, empty = {}, {}
    for report, sidecar in zip(reports, sidecars, strict=True):
        filtered, recaptioned = pd.read_parquet(report.path), pd.read_parquet(sidecar, columns=["key"])
        if sorted(filtered["key"]) != sorted(recaptioned["key"]):
            incomplete[report.shard] = f"{len(filtered)} rows for {len(recaptioned)} keys"
        ok = filtered[filtered["status"] == "ok"]
        if n := sum(not isinstance(c, str) or not c.strip() for c in ok["caption"]):
            empty[report.shard] = n
    judged = sum(r.ok_rows for r in reports)
    share = sum(r.fallbacks for r in reports) / judged if judged else 0.0
    return [
        AssetCheckResult(
            check_name=FILTERED_KEYS_COMPLETE,
            passed=not incomplete,
            metadata={"shards": MetadataValue.json(incomplete)},
        ),
        AssetCheckResult(
            check_name=NO_EMPTY_CAPTION, passed=not empty, metadata={"empty_captions": MetadataValue.json(empty)}
        ),
        AssetCheckResult(
            check_name=FALLBACK_RATE,
            passed=share <= settings.fallback_ceiling,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "fallback_share": MetadataValue.float(round(share, 4)),
                "ceiling": MetadataValue.float(settings.fallback_ceiling),
            },
        ),
    ]


def all_mix_specs() -> dict[str, MixSpec]:
    """The registered specs and params.yaml's `mixes:` by name: the generator's partitions."""
    user = {name: resolve_mix({"name": name, **dict(spec)}) for name, spec in PARAMS.mixes.items()}
    return {**MIX_SPECS, **user}


def uses_oracle(spec: MixSpec) -> bool:
    return spec.shares.get("oracle", 0.0) > 0


class MixConfig(Config):
    """Which mixes to write: the registered specs (components/curation/mix.py) by name, and
    params.yaml's `mixes:` (the user's specs, by name: {shares: {...}, max_tokens: ...})."""

    mixes: list[str] = []  # empty: every registered spec (`oracle` only in the shapes world) and params.yaml's
    seed: int = PARAMS.seed

    def resolve(self) -> list[MixSpec]:
        specs = all_mix_specs()
        names = self.mixes or [name for name, spec in specs.items() if SOURCE is None or not uses_oracle(spec)]
        if unknown := sorted(set(names) - set(specs)):
            raise ValueError(f"unknown mix spec(s) {unknown}; known: {sorted(specs)}")
        return [specs[name] for name in names]


@asset(
    deps=["filtered_captions"],
    group_name="curation",
    kinds={"parquet"},
    description="The training mixes (data/mix/<spec>.parquet): for every filtered key one caption of the "
    "source its spec assigns (key, shard, caption, source), deterministic by seed; `paper` is DALL-E 3's "
    "95% synthetic descriptive / 5% original blend; a spec's hash is its version.",
)
def training_mix(
    context: AssetExecutionContext, config: MixConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    specs = config.resolve()  # an unknown spec or shares that do not sum to 1 stop here
    storage.claim_dataset_root()
    paths = sorted(storage.filtered_dir().glob("*.parquet")) if storage.filtered_dir().is_dir() else []
    if not paths:
        raise FileNotFoundError(
            f"no filtered sidecars in {storage.filtered_dir()}; materialize filtered_captions first"
        )
    filtered = read_filtered(paths)
    rows = filtered.rows
    if any(uses_oracle(spec) for spec in specs):  # written from the web shards' scene records
        oracle = oracle_captions([storage.web_shard_tar(shard) for shard in sorted(set(rows["shard"]))], config.seed)
        rows = rows.merge(oracle, on=["shard", "key"], how="left")
    policy = PARAMS.safety_policy()
    screened = screen_rows(rows, policy, {shard: storage.web_shard_tar(shard) for shard in sorted(set(rows["shard"]))})
    safety = screened.summary()
    count = caption_length(storage.captioner_dir())
    summaries: dict[str, dict[str, Any]] = {}
    with mlflow.run_for(context) as run:
        for spec in specs:
            path = storage.mix_dir() / f"{spec.name}.parquet"
            result, _ = write_mix(path, screened, spec, seed=config.seed, count=count, inputs=filtered.inputs)
            summaries[spec.name] = result.summary()
            run.log_metrics({f"{spec.name}/share/{k}": v for k, v in result.shares.items()})
        run.log_params({"safety_policy_version": policy.version})
        run.log_metrics({"safety/removed": screened.counts.removed})
        run.log_dict({"safety": safety, "mixes": summaries}, "mixes.json")
    context.log.info(
        f"wrote {len(specs)} mixes over {len(screened.rows)} filtered rows; safety policy {policy.version} removed "
        f"{screened.counts.removed} of {screened.counts.seen} examples {safety['removed_by_rule']}"
    )
    return MaterializeResult(
        metadata={
            **dvc_metadata(storage.mix_dir()),
            "mixes": metadata_table(
                ["spec", "version", "rows", "realised shares", "origins", "truncated", "left out (error rows)"],
                [
                    [
                        name,
                        s["spec_version"],
                        s["rows"],
                        s["shares"],
                        s["origins"],
                        s["truncated"],
                        s["errors_left_out"],
                    ]
                    for name, s in summaries.items()
                ],
            ),
            "summaries": MetadataValue.json(summaries),
            "safety_policy_version": policy.version,
            "removed_by_safety_policy": screened.counts.removed,
            "safety": metadata_table(
                ["rule", "examples removed"],
                [[rule, n] for rule, n in sorted(safety["removed_by_rule"].items())] or [["(none)", 0]],
            ),
            **run.dagster_metadata(),
        }
    )


filter_job = define_asset_job(
    "filter_job",
    selection=[filtered_captions],
    description="Filters recaptioned shards with the judge; a backfill runs several shards per run.",
)

alignment_job = define_asset_job(
    "alignment_job", selection=[alignment_model], description="Trains the alignment judge."
)

ASSETS = [alignment_model, filtered_captions, training_mix]
training_mix_job = define_asset_job(
    "training_mix_job", selection=[training_mix], description="Writes every training mix's manifest."
)
JOBS = [alignment_job, filter_job, training_mix_job]
