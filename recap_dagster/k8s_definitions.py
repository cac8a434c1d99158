"""The code location for a Kubernetes deployment: the `recap` location's definitions plus
`recaption_k8s_job`, the recaptioned_shards partitions under dagster-k8s's executor, each step in
its own pod with one GPU (run config: deploy/k8s/recaption_run_config.yaml).

A location of its own because importing dagster-k8s loads the Kubernetes client, about 1.4 s on a
2-core CPU, which every `recap` command, DVC stage and local code-location load would pay for a job
that only runs on a cluster. Needs the `k8s` extra (`pip install -e .[k8s]`); load it with
`-m recap_dagster.k8s_definitions` (`dagster job launch`, `dagster dev`, or the cluster's
workspace.yaml)."""

from __future__ import annotations

from dagster import Definitions, define_asset_job
from dagster_k8s import k8s_job_executor

from recap_dagster.definitions import defs as local_defs
from recap_dagster.defs.recaption import recaptioned_shards

recaption_k8s_job = define_asset_job(
    "recaption_k8s_job",
    selection=[recaptioned_shards],
    executor_def=k8s_job_executor,
    description="recaption_job on Kubernetes: each step in its own pod (deploy/k8s/recaption_run_config.yaml).",
)

defs = Definitions.merge(local_defs, Definitions(jobs=[recaption_k8s_job]))
