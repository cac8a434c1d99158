"""The `upsampling` group: `prompt_upsampler`, the local rewriter that turns a short prompt
into the detailed caption the generator learnt from (DALL-E 3's prompt upsampling): a small
transformers encoder-decoder (or, by preset, a causal LM) trained on (short, long) caption pairs
of one image, saved with `save_pretrained` in models/upsampler/, registered in MLflow as
recap-upsampler, and measured on the benchmark's own short and unseen-form prompts: how often
its first rewrite keeps the prompt's intent (before the guard), how often what is drawn keeps
it (after), how varied its rewrites are and how long, beside the training captions."""

import json
from typing import Any

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
)

from components.data.shard_layout import list_shards
from components.upsampling.train.recipe import UpsamplerRecipe, resolve_upsampler_recipe
from recap_dagster.config import PARAMS, TrainingRunConfig
from recap_dagster.metadata import dvc_metadata, metadata_table
from recap_dagster.pools import TRAINER_POOL
from recap_dagster.resources import MlflowTracking, ProjectStorage

REGISTERED_UPSAMPLER = "recap-upsampler"
MEASURES_FILE = "measures.json"  # beside the model: what the asset measured it at
# Benchmark prompts per category (in the short and the unseen form) the intent is measured
# on, and prompts x rewrites the diversity is.
INTENT_PER_CATEGORY = {"quick": 1, "paper": 8}
DIVERSITY_PROMPTS = {"quick": 4, "paper": 32}
DIVERSITY_K = 4
TABLE_ROWS = 16


class UpsamplerConfig(TrainingRunConfig):
    """The profile's rewriter recipe (components/upsampling/train/recipe.py) with params.yaml's
    `upsampling:` overrides, then `overrides` for this run (e.g. {"pairs": "both"}); and the
    size of the measurement."""

    intent_per_category: int = INTENT_PER_CATEGORY.get(PARAMS.profile, 1)
    diversity_prompts: int = DIVERSITY_PROMPTS.get(PARAMS.profile, 4)

    def resolve(self) -> UpsamplerRecipe:
        return self.scaled(resolve_upsampler_recipe(self.recipe, {**PARAMS.upsampling, **self.overrides}))


@asset(
    # The captioner's pairs come from every filtered sidecar (recipe `pairs`: captioner or both).
    deps=["curated_captions", AssetDep("filtered_captions", partition_mapping=AllPartitionMapping())],
    group_name="upsampling",
    kinds={"pytorch", "transformers"},
    pool=TRAINER_POOL,
    description="The local prompt rewriter (models/upsampler/, a T5 encoder-decoder that "
    "AutoModelForSeq2SeqLM.from_pretrained loads, or by preset a causal LM that AutoModelForCausalLM "
    "loads, with a chat template): trained on (short, long) caption "
    "pairs, measured on the benchmark's prompts for intent kept before and after the guard and for "
    "diversity; registered as recap-upsampler.",
)
def prompt_upsampler(
    context: AssetExecutionContext, config: UpsamplerConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    from components.evaluation.upsampling import measure_upsampler  # torch: imported when the asset runs
    from components.io.atomic import write_file_atomically
    from components.upsampling.train.stage import train_upsampler

    recipe = config.resolve()
    storage.claim_dataset_root()
    out_dir = storage.upsampler_dir()
    sidecars = sorted(storage.filtered_dir().glob("*.parquet")) if recipe.pairs != "curated" else []
    curated = list_shards(storage.curated_dir())
    with mlflow.run_for(context, system_metrics=True) as run:
        run.log_params(config.mlflow_params(recipe))
        result = train_upsampler(
            recipe,
            curated_shards=curated,
            sidecars=sidecars,
            work_dir=storage.work_dir("prompt_upsampler"),
            out_dir=out_dir,
            seed=config.seed,
            logger=mlflow.lightning_logger(run),
            resume=config.resume,
        )
        measures = measure_upsampler(
            out_dir,
            curated,
            per_category=config.intent_per_category,
            diversity_prompts=config.diversity_prompts,
            k=DIVERSITY_K,
            seed=config.seed,
        )
        write_file_atomically(
            out_dir / MEASURES_FILE, lambda tmp: tmp.write_text(json.dumps(measures.as_json(), indent=2) + "\n")
        )
        run.log_metrics(measures.metrics())
        run.log_dict(measures.as_json(), "upsampling/measures.json")
        version = run.register_model(out_dir, REGISTERED_UPSAMPLER, "newest", champion_metric="intent/before/all")
    overall = measures.intent_rows[-1]
    context.log.info(
        f"prompt upsampler: first rewrites keep the intent {overall.before.value:.2f}, drawn texts "
        f"{overall.after.value:.2f}, fallbacks {overall.fallbacks.value:.2f} after {result.fit.steps} steps"
    )
    return MaterializeResult(
        metadata={
            **dvc_metadata(out_dir),
            "pairs": MetadataValue.json(result.pairs),
            "steps": MetadataValue.int(result.fit.steps),
            "minutes": MetadataValue.float(round(result.fit.minutes, 2)),
            "intent_before_guard": MetadataValue.float(round(overall.before.value, 4)),
            "intent_after_guard": MetadataValue.float(round(overall.after.value, 4)),
            "fallback_rate": MetadataValue.float(round(overall.fallbacks.value, 4)),
            "distinct_share": MetadataValue.float(round(measures.diversity.distinct_share, 4)),
            "intent": intent_table(measures.intent_rows),
            "rewrites": rewrites_table(measures.examples[:TABLE_ROWS]),
            "lengths": lengths_table(measures.diversity),
            "registered_model": MetadataValue.text(f"{REGISTERED_UPSAMPLER} v{version} @newest"),
            **run.dagster_metadata(),
        }
    )


def lengths_table(diversity: Any):
    """Words per text: the passing rewrites (none when every one fell back) beside the training captions."""
    stats = ("mean", "std", "p10", "p50", "p90")
    rows = [("rewrites", diversity.rewrite_words), ("training captions", diversity.caption_words)]
    return metadata_table(
        ["texts", *stats], [[name, *(round(v[s], 1) if s in v else None for s in stats)] for name, v in rows]
    )


def intent_table(rows: Any):
    return metadata_table(
        ["category", "prompts", "before the guard", "after", "fallbacks"],
        [[r.category, r.prompts, str(r.before), str(r.after), str(r.fallbacks)] for r in rows],
    )


def rewrites_table(examples: Any):
    return metadata_table(
        ["category", "prompt", "first rewrite", "verdict", "drawn from"],
        [[e.category, e.prompt, e.first, "; ".join(e.first_failures) or "keeps the intent", e.drawn] for e in examples],
    )


upsampler_job = define_asset_job(
    "upsampler_job", selection=["prompt_upsampler"], description="Train and measure the local prompt rewriter."
)

ASSETS = [prompt_upsampler]
JOBS = [upsampler_job]
