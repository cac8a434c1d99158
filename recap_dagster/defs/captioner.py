"""`captioner_pretrained` and `captioner`: the CoCa captioner, pretrained on the web alt-text
when the recipe has that stage (neither profile's recipe does: it was measured to hurt
here), then fine-tuned on the curated descriptive set and judged on its held-out images."""

import json
from functools import partial
from typing import Any

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, TableMetadataValue, asset, define_asset_job

from components.captioner.train.recipe import CaptionerRecipe, resolve_recipe
from components.data.preview import sample_grid
from components.data.shard_layout import list_shards
from components.io.atomic import write_dir_atomically
from components.overrides import flatten
from recap_dagster.config import PARAMS, TrainingRunConfig
from recap_dagster.metadata import dvc_metadata, grid_markdown, metadata_table
from recap_dagster.pools import CAPTIONER_POOL
from recap_dagster.resources import MlflowTracking, ProjectStorage

REGISTERED_NAME = "recap-captioner"
NEWEST_ALIAS = "newest"
PREVIEW = 8
SKIPPED = "skipped.json"  # what captioner_pretrained writes when the recipe has no pretraining


class CaptionerConfig(TrainingRunConfig):
    """The recipe is the profile's (components/captioner/train/recipe.py) with params.yaml's
    `captioner:` overrides, then `overrides` (same keys, e.g. {"finetune.lr": 5e-4}), then the
    shortcuts below, which set this asset's stage (unset: the recipe's value)."""

    max_minutes: float | None = None  # the stage's wall-clock budget
    max_steps: int | None = None
    data_workers: int | None = None  # DataLoader worker processes: 0 on a 2-core CPU; 2-3 keep a GPU fed
    precision: str | None = None  # Lightning's (32-true, bf16-mixed, ...) or auto

    def resolve(self, stage: str) -> CaptionerRecipe:
        shortcuts = {
            "max_minutes": self.max_minutes,
            "max_steps": self.max_steps,
            "num_workers": self.data_workers,
            "precision": self.precision,
        }
        run = {f"{stage}.{name}": value for name, value in shortcuts.items() if value is not None}
        return self.scaled(resolve_recipe(self.recipe, {**PARAMS.captioner, **self.overrides, **run}))


def stage_params(recipe: CaptionerRecipe, stage: str, seed: int) -> dict[str, Any]:
    flat = flatten(recipe)
    return {
        "recipe.preset": recipe.preset,
        "recipe.vocab_size": recipe.vocab_size,
        "seed": seed,
        **{k: v for k, v in flat.items() if k.startswith(f"{stage}.")},
    }


@asset(
    deps=["web_shards", "curated_captions"],
    group_name="captioner",
    kinds={"pytorch", "safetensors"},
    pool=CAPTIONER_POOL,
    description="The CoCa captioner pretrained on the web alt-text (contrastive + captioning), with its "
    "BPE tokenizer: models/captioner_pretrained/.",
)
def captioner_pretrained(
    context: AssetExecutionContext, config: CaptionerConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    from components.captioner.train.stage import pretrain  # Lightning: imported when the asset runs

    recipe = config.resolve("pretrain")
    if reason := recipe.no_pretraining_because():
        # The folder still says so (models/captioner_pretrained/skipped.json): DVC, and a reader
        # of the folder, find this stage's output whatever the recipe.
        storage.claim_dataset_root()
        text = json.dumps({"skipped": reason, "recipe": recipe.to_dict()}, indent=1)
        write_dir_atomically(
            storage.captioner_pretrained_dir(), lambda tmp: (tmp / SKIPPED).write_text(text), overwrite=True
        )
        context.log.info(f"no pretraining: {reason}")
        return MaterializeResult(
            metadata={"skipped": MetadataValue.text(reason), **dvc_metadata(storage.captioner_pretrained_dir())}
        )
    storage.claim_dataset_root()
    web, curated = storage.web_shard_tars(), list_shards(storage.curated_dir())
    out_dir = storage.captioner_pretrained_dir()
    with mlflow.run_for(context, system_metrics=True) as run:
        run.log_params(stage_params(recipe, "pretrain", config.seed))
        result = pretrain(
            recipe,
            web_shards=web,
            curated_shards=curated,
            work_dir=storage.work_dir("captioner_pretrained"),
            out_dir=out_dir,
            seed=config.seed,
            logger=mlflow.lightning_logger(run),
            resume=config.resume,
        )
        run.log_metrics({"steps": result.fit.steps, "minutes": result.fit.minutes})
        run.log_params({"precision": result.fit.precision})
    return MaterializeResult(
        metadata={
            **dvc_metadata(out_dir),
            "steps": MetadataValue.int(result.fit.steps),
            "minutes": MetadataValue.float(round(result.fit.minutes, 2)),
            "precision": MetadataValue.text(result.fit.precision),
            "resumed_from": MetadataValue.text(str(result.fit.resumed_from or "")),
            "web_shards": MetadataValue.int(len(web)),
            **run.dagster_metadata(),
        }
    )


def heldout_captions_table(keys: list[str], captions: dict[str, list[str]]) -> TableMetadataValue:
    return metadata_table(
        ["key", "short", "long"], [[key, captions["short"][i], captions["long"][i]] for i, key in enumerate(keys)]
    )


@asset(
    deps=["captioner_pretrained", "curated_captions"],
    group_name="captioner",
    kinds={"pytorch", "safetensors", "mlflow"},
    pool=CAPTIONER_POOL,
    description="The CoCa captioner fine-tuned on the curated short and descriptive captions, judged on "
    "the held-out curated images; models/captioner/, registered in MLflow as recap-captioner@newest.",
)
def captioner(
    context: AssetExecutionContext, config: CaptionerConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    from components.captioner.sampling import SamplingSettings
    from components.captioner.train.stage import finetune  # Lightning: imported when the asset runs
    from components.evaluation.captioner import TRUTH_NOT_AVAILABLE, evaluate_captioner, score_alt_text

    recipe = config.resolve("finetune")
    init_dir = storage.captioner_pretrained_dir() if recipe.no_pretraining_because() is None else None
    if init_dir is not None and (not init_dir.is_dir() or (init_dir / SKIPPED).is_file()):
        raise FileNotFoundError(f"no pretrained captioner at {init_dir}: materialize captioner_pretrained first")
    storage.claim_dataset_root()
    out_dir = storage.captioner_dir()
    with mlflow.run_for(context, system_metrics=True) as run:
        run.log_params({**stage_params(recipe, "finetune", config.seed), "initialised_from": str(init_dir)})
        result = finetune(
            recipe,
            init_dir=init_dir,
            curated_shards=list_shards(storage.curated_dir()),
            web_shards=storage.web_shard_tars(),
            work_dir=storage.work_dir("captioner"),
            out_dir=out_dir,
            seed=config.seed,
            logger=mlflow.lightning_logger(run),
            evaluate=partial(evaluate_captioner, settings=SamplingSettings(seed=config.seed)),
            resume=config.resume,
        )
        run.log_metrics({f"eval/{k}": v for k, v in result.metrics.items()})
        run.log_params({"precision": result.fit.precision})
        grid = sample_grid(result.images[:PREVIEW], result.captions["long"][:PREVIEW])
        run.log_image(grid, "heldout_long_captions.png")
        run.log_table(
            {"key": result.keys, "short": result.captions["short"], "long": result.captions["long"]},
            "heldout_captions.json",
        )
        baseline = score_alt_text(storage.web_shard_tars(), limit=len(result.keys) * 5)
        if baseline is not None:
            run.log_metrics({f"baseline/alt_text/{k}": v for k, v in baseline.items()})
        version = run.register_model(out_dir, REGISTERED_NAME, NEWEST_ALIAS, champion_metric="eval/long/cider_d")
    has_truth = any(k.endswith("/object_recall") for k in result.metrics)
    truth_note = {} if has_truth else {"eval/truth_metrics": MetadataValue.text(TRUTH_NOT_AVAILABLE)}
    headline = {
        k: v
        for k, v in result.metrics.items()
        if k.split("/")[1]
        in ("object_recall", "hallucination_rate", "count_accuracy", "sign_accuracy", "cider_d", "mean_tokens")
    }
    return MaterializeResult(
        metadata={
            **dvc_metadata(out_dir),
            "steps": MetadataValue.int(result.fit.steps),
            "minutes": MetadataValue.float(round(result.fit.minutes, 2)),
            "precision": MetadataValue.text(result.fit.precision),
            **{f"eval/{k}": MetadataValue.float(float(v)) for k, v in headline.items()},
            "evaluation": MetadataValue.json(result.metrics),
            **truth_note,
            "baseline_alt_text": MetadataValue.json(baseline) if baseline else MetadataValue.text(TRUTH_NOT_AVAILABLE),
            "heldout_samples": grid_markdown(grid, "held-out images with their long captions"),
            "heldout_captions": heldout_captions_table(result.keys[:PREVIEW], result.captions),
            "registered_model": MetadataValue.text(f"{REGISTERED_NAME} v{version} @{NEWEST_ALIAS}"),
            **run.dagster_metadata(),
        }
    )


captioner_job = define_asset_job(
    "captioner_job",
    selection=[captioner_pretrained, captioner],
    description="Pretrains the captioner on the web alt-text, then fine-tunes it on the curated set.",
)

ASSETS = [captioner_pretrained, captioner]
JOBS = [captioner_job]
