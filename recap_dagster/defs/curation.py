"""The `curation` group: `alignment_model`, the judge that scores how well a caption
describes its image (trained on the curated set alone, separate from the captioner, so
that no model grades its own captions), with its calibrated threshold."""

from typing import Any

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset, define_asset_job

from components.curation.judge_stage import JudgeRecipe, resolve_judge_recipe, train_judge
from components.data.shards import list_shards
from components.overrides import flatten
from recap_dagster.config import PARAMS
from recap_dagster.metadata import markdown_table
from recap_dagster.resources import MlflowTracking, ProjectStorage


class AlignmentConfig(Config):
    """The profile's judge recipe (components/curation/judge_stage.py) with params.yaml's
    `alignment:` overrides, then `overrides` for this run (e.g. {"max_steps": 300})."""

    recipe: str = PARAMS.profile
    seed: int = PARAMS.seed
    resume: bool = True  # continue from the last checkpoint of a killed run
    overrides: dict[str, Any] = {}

    def resolve(self) -> JudgeRecipe:
        return resolve_judge_recipe(self.recipe, {**PARAMS.alignment, **self.overrides})


def heldout_table(metrics: dict[str, float]) -> MetadataValue:
    kinds = sorted({name.split("/")[0] for name in metrics if "/" in name})
    return markdown_table(
        ["perturbation", "pairs", "rejected", "scored below the true caption"],
        [
            [
                kind,
                int(metrics[f"{kind}/n"]),
                f"{metrics[f'{kind}/rejected']:.3f}",
                f"{metrics[f'{kind}/ranked_below_true']:.3f}",
            ]
            for kind in kinds
        ],
    )


@asset(
    deps=["curated_captions"],
    group_name="curation",
    kinds={"pytorch", "safetensors"},
    description="The alignment judge (models/alignment/): image and text towers with a contrastive embedding "
    "and an image-text matching head, trained on the curated pairs with hard negatives made from their own "
    "text; its threshold passes pass_share of the held-out true captions.",
)
def alignment_model(
    context: AssetExecutionContext, config: AlignmentConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    recipe = config.resolve()
    storage.claim_dataset_root()
    out_dir = storage.alignment_dir()
    with mlflow.run_for(context) as run:
        run.log_params({"seed": config.seed, **{f"recipe.{k}": v for k, v in flatten(recipe).items()}})
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
            "path": MetadataValue.path(str(out_dir)),
            "score_kind": MetadataValue.text(recipe.score_kind),
            "threshold": MetadataValue.float(result.threshold),
            "pass_share": MetadataValue.float(recipe.pass_share),
            "steps": MetadataValue.int(result.fit.steps),
            "minutes": MetadataValue.float(round(result.fit.minutes, 2)),
            "heldout_true_pass_share": MetadataValue.float(result.metrics["true_pass_share"]),
            "heldout_hard_negatives": heldout_table(result.metrics),
            "mlflow_run_id": MetadataValue.text(run.run_id),
        }
    )


alignment_job = define_asset_job(
    "alignment_job", selection=[alignment_model], description="Trains the alignment judge."
)

ASSETS = [alignment_model]
JOBS = [alignment_job]
