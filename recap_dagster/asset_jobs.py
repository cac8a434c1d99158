"""The job each asset is launched through, so that a run says what launched it.

`dagster.materialize([asset])` would name every run `__ephemeral_asset_job__`; instead each
asset runs through the project's job that selects it (`web_shards_job`, `captioner_job`, ...),
subset to that asset, so the Runs page, the MLflow run's `dagster.job_name` tag and a
schedule's or the UI's runs all use the same names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetKey, AssetsDefinition, Definitions, JobDefinition
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def asset_jobs(
    assets: Sequence[AssetsDefinition],
    jobs: Sequence[UnresolvedAssetJobDefinition],
    resources: Mapping[str, Any],
) -> dict[AssetKey, JobDefinition]:
    """For each asset, the first of `jobs` (in order) that selects it, resolved with
    `resources` (a caller's own, e.g. the CLI's storage for a `--out` folder). An asset no
    job selects fails, naming it: every asset must be launchable by name."""
    defs = Definitions(assets=list(assets), jobs=list(jobs), resources=dict(resources))
    chosen: dict[AssetKey, JobDefinition] = {}
    for job in jobs:
        resolved = defs.resolve_job_def(job.name)
        for key in resolved.asset_layer.selected_asset_keys:
            chosen.setdefault(key, resolved)
    if missing := sorted(a.key.to_user_string() for a in assets if a.key not in chosen):
        raise ValueError(f"no job selects asset(s) {missing}; add one to its group's JOBS")
    return chosen
