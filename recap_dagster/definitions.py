"""The `recap` code location: every asset, check, job and resource of the pipeline."""

from __future__ import annotations

from dagster import Definitions, define_asset_job

from recap_dagster.assets import captioner, captioner_pretrained, curated_captions, web_shards
from recap_dagster.resources import MlflowTracking, ProjectStorage

ASSETS = [web_shards, curated_captions, captioner_pretrained, captioner]

RESOURCES = {
    "storage": ProjectStorage(),
    "mlflow": MlflowTracking(),
}

web_shards_job = define_asset_job(
    "web_shards_job", selection=[web_shards], description="Builds web shards, one partition per run."
)
curated_captions_job = define_asset_job("curated_captions_job", selection=[curated_captions])
captioner_job = define_asset_job(
    "captioner_job", selection=[captioner_pretrained, captioner],
    description="Pretrains the captioner on the web alt-text, then fine-tunes it on the curated set.",
)

defs = Definitions(assets=ASSETS, resources=RESOURCES, jobs=[web_shards_job, curated_captions_job, captioner_job])
