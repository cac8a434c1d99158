"""`captioner_pretrained` and `captioner`: the CoCa captioner, pretrained on the web alt-text
when the recipe has that stage (neither profile's recipe does: it was measured to hurt
here), then fine-tuned on the curated descriptive set and judged on its held-out images."""

from typing import Any

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset, define_asset_job

from components.data.preview import sample_grid
from components.data.shards import list_shards
from components.evaluation.captioner import score_alt_text
from components.captioner.train.stages import finetune, pretrain
from components.captioner.train.recipe import CaptionerRecipe, resolve_recipe
from recap_dagster.config import PARAMS
from recap_dagster.metadata import grid_markdown, table_cell
from recap_dagster.resources import MlflowTracking, ProjectStorage

REGISTERED_NAME = "recap-captioner"
NEWEST_ALIAS = "newest"
PREVIEW = 8


class CaptionerConfig(Config):
    """The recipe is the profile's (components/captioner/train/recipe.py), with
    params.yaml's `captioner:` overrides; these fields override once more for one run."""

    recipe: str = PARAMS.profile
    seed: int = PARAMS.seed
    max_minutes: float | None = None  # this stage's wall-clock budget
    max_steps: int | None = None
    resume: bool = True  # continue from the last checkpoint of a killed run
    data_workers: int = 0  # DataLoader worker processes: 0 on a 2-core CPU; 2-3 keep a GPU fed
    precision: str = "auto"  # Lightning's (32-true, bf16-mixed, ...); auto: bf16-mixed on a CPU with AMX

    def resolve(self, stage: str) -> CaptionerRecipe:
        overrides: dict[str, Any] = dict(PARAMS.captioner)
        if self.max_minutes is not None:
            overrides[f"{stage}.max_minutes"] = self.max_minutes
        if self.max_steps is not None:
            overrides[f"{stage}.max_steps"] = self.max_steps
        return resolve_recipe(self.recipe, **overrides)


def stage_params(recipe: CaptionerRecipe, stage: str, seed: int) -> dict[str, Any]:
    settings = getattr(recipe, stage)
    return {"recipe.preset": recipe.preset, "recipe.vocab_size": recipe.vocab_size, "seed": seed,
            **{f"{stage}.{k}": v for k, v in vars(settings).items()}}


@asset(
    deps=["web_shards", "curated_captions"],
    group_name="captioner",
    kinds={"pytorch", "safetensors"},
    description="The CoCa captioner pretrained on the web alt-text (contrastive + captioning), with its "
    "BPE tokenizer: models/captioner_pretrained/.",
)
def captioner_pretrained(
    context: AssetExecutionContext, config: CaptionerConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    recipe = config.resolve("pretrain")
    if recipe.pretrain is None or recipe.hf_model is not None:
        reason = ("the recipe fine-tunes a transformers model" if recipe.hf_model else
                  "the recipe has no pretraining stage (pretraining on this world's alt-text was measured to "
                  "hurt, docs/results.md; captioner: {pretrain: {max_steps: ..., max_minutes: ...}} adds one)")
        context.log.info(f"no pretraining: {reason}")
        return MaterializeResult(metadata={"skipped": MetadataValue.text(reason)})
    web, curated = list_shards(storage.web_shards_dir()), list_shards(storage.curated_dir())
    out_dir = storage.models_path() / "captioner_pretrained"
    with mlflow.run_for(context) as run:
        run.log_params(stage_params(recipe, "pretrain", config.seed))
        result = pretrain(
            recipe, web_shards=web, curated_shards=curated, work_dir=storage.work_path("captioner_pretrained"),
            out_dir=out_dir, seed=config.seed, logger=mlflow.lightning_logger(run), data_workers=config.data_workers,
            resume=config.resume, trainer_kwargs={"precision": config.precision},
        )
        run.log_metrics({"steps": result.fit.steps, "minutes": result.fit.minutes})
        run.log_params({"precision": result.fit.precision})
    return MaterializeResult(metadata={
        "path": MetadataValue.path(str(out_dir)),
        "steps": MetadataValue.int(result.fit.steps),
        "minutes": MetadataValue.float(round(result.fit.minutes, 2)),
        "precision": MetadataValue.text(result.fit.precision),
        "resumed_from": MetadataValue.text(str(result.fit.resumed_from or "")),
        "web_shards": MetadataValue.int(len(web)),
        "mlflow_run_id": MetadataValue.text(run.run_id),
    })


def captions_markdown(keys: list[str], captions: dict[str, list[str]]) -> MetadataValue:
    rows = [f"| {key} | {table_cell(captions['short'][i])} | {table_cell(captions['long'][i])} |"
            for i, key in enumerate(keys)]
    return MetadataValue.md("| key | short | long |\n|---|---|---|\n" + "\n".join(rows))


@asset(
    deps=["captioner_pretrained", "curated_captions"],
    group_name="captioner",
    kinds={"pytorch", "safetensors", "mlflow"},
    description="The CoCa captioner fine-tuned on the curated short and descriptive captions, judged on "
    "the held-out curated images; models/captioner/, registered in MLflow as recap-captioner@newest.",
)
def captioner(
    context: AssetExecutionContext, config: CaptionerConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    recipe = config.resolve("finetune")
    models = storage.models_path()
    pretrained = recipe.pretrain is not None and recipe.hf_model is None
    init_dir = models / "captioner_pretrained" if pretrained else None
    if init_dir is not None and not init_dir.is_dir():
        raise FileNotFoundError(f"no pretrained captioner at {init_dir}: materialize captioner_pretrained first")
    out_dir = models / "captioner"
    with mlflow.run_for(context) as run:
        run.log_params({**stage_params(recipe, "finetune", config.seed), "initialised_from": str(init_dir)})
        result = finetune(
            recipe, init_dir=init_dir, curated_shards=list_shards(storage.curated_dir()),
            web_shards=list_shards(storage.web_shards_dir()), work_dir=storage.work_path("captioner"),
            out_dir=out_dir, seed=config.seed, logger=mlflow.lightning_logger(run), data_workers=config.data_workers,
            resume=config.resume, trainer_kwargs={"precision": config.precision},
        )
        run.log_metrics({f"eval/{k}": v for k, v in result.metrics.items()})
        run.log_params({"precision": result.fit.precision})
        grid = sample_grid(result.images[:PREVIEW], result.captions["long"][:PREVIEW])
        run.log_image(grid, "heldout_long_captions.png")
        run.log_table({"key": result.keys, "short": result.captions["short"], "long": result.captions["long"]},
                      "heldout_captions.json")
        baseline = score_alt_text(list_shards(storage.web_shards_dir()), limit=len(result.keys) * 5)
        run.log_metrics({f"baseline/alt_text/{k}": v for k, v in baseline.items()})
        version = run.register_model(out_dir, REGISTERED_NAME, NEWEST_ALIAS)
    headline = {k: v for k, v in result.metrics.items() if k.split("/")[1] in
                ("object_recall", "hallucination_rate", "count_accuracy", "sign_accuracy", "cider_d", "mean_tokens")}
    return MaterializeResult(metadata={
        "path": MetadataValue.path(str(out_dir)),
        "steps": MetadataValue.int(result.fit.steps),
        "minutes": MetadataValue.float(round(result.fit.minutes, 2)),
        "precision": MetadataValue.text(result.fit.precision),
        **{f"eval/{k}": MetadataValue.float(float(v)) for k, v in headline.items()},
        "evaluation": MetadataValue.json(result.metrics),
        "baseline_alt_text": MetadataValue.json(baseline),
        "heldout_samples": grid_markdown(grid, "held-out images with their long captions"),
        "heldout_captions": captions_markdown(result.keys[:PREVIEW], result.captions),
        "registered_model": MetadataValue.text(f"{REGISTERED_NAME} v{version} @{NEWEST_ALIAS}"),
        "mlflow_run_id": MetadataValue.text(run.run_id),
    })


captioner_job = define_asset_job(
    "captioner_job", selection=[captioner_pretrained, captioner],
    description="Pretrains the captioner on the web alt-text, then fine-tunes it on the curated set.",
)

ASSETS = [captioner_pretrained, captioner]
JOBS = [captioner_job]
