"""The `recap` code location: every asset group's assets, checks and jobs, and the resources."""

from __future__ import annotations

from dagster import Definitions

from components.io.console import quiet_library_notices
from recap_dagster.automation import automation_sensor, operated, weekly_schedule
from recap_dagster.defs import captioner as captioner_group
from recap_dagster.defs import curation as curation_group
from recap_dagster.defs import data as data_group
from recap_dagster.defs import evaluation as evaluation_group
from recap_dagster.defs import generator as generator_group
from recap_dagster.defs import recaption as recaption_group
from recap_dagster.defs import upsampling as upsampling_group
from recap_dagster.defs.captioner import captioner, captioner_pretrained
from recap_dagster.defs.curation import alignment_model, filtered_captions, training_mix
from recap_dagster.defs.data import curated_captions, web_shards
from recap_dagster.defs.drift import DRIFT_CHECKS
from recap_dagster.defs.evaluation import eval_report, eval_scores
from recap_dagster.defs.generator import generator, vae
from recap_dagster.defs.recaption import recaptioned_shards
from recap_dagster.defs.upsampling import prompt_upsampler
from recap_dagster.resources import MlflowTracking, ProjectStorage

quiet_library_notices()  # in every process that runs the assets: the UI's runs too (components/io/console.py)

# upstream first
GROUPS = [
    data_group,
    captioner_group,
    recaption_group,
    curation_group,
    upsampling_group,
    generator_group,
    evaluation_group,
]
ASSETS = operated(asset for group in GROUPS for asset in group.ASSETS)  # code versions, automation conditions
JOBS = [job for group in GROUPS for job in group.JOBS]
SENSORS = [*data_group.SENSORS, automation_sensor()]
SCHEDULES = [weekly_schedule(ASSETS)]

RESOURCES = {
    "storage": ProjectStorage(),
    "mlflow": MlflowTracking(),
}

defs = Definitions(
    assets=ASSETS, asset_checks=DRIFT_CHECKS, resources=RESOURCES, jobs=JOBS, sensors=SENSORS, schedules=SCHEDULES
)

__all__ = [
    "ASSETS",
    "alignment_model",
    "JOBS",
    "RESOURCES",
    "captioner",
    "captioner_pretrained",
    "curated_captions",
    "defs",
    "eval_report",
    "eval_scores",
    "filtered_captions",
    "generator",
    "prompt_upsampler",
    "recaptioned_shards",
    "training_mix",
    "vae",
    "web_shards",
]
