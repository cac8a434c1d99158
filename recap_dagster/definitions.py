"""The `recap` code location: every asset, check, job and resource of the pipeline."""

from __future__ import annotations

from dagster import Definitions, define_asset_job

from recap_dagster.assets import captioner, captioner_pretrained, curated_captions, recaptioned_shards, web_shards
from recap_dagster.resources import MlflowTracking, ProjectStorage

ASSETS = [web_shards, curated_captions, captioner_pretrained, captioner, recaptioned_shards]

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

recaption_job = define_asset_job(
    "recaption_job", selection=[recaptioned_shards],
    description="Recaptions web shards into sidecar parquets; a backfill runs several shards per run.",
)

JOBS = [web_shards_job, curated_captions_job, captioner_job, recaption_job]

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

defs = Definitions(assets=ASSETS, resources=RESOURCES, jobs=JOBS)
