"""How the pipeline reruns itself: versions, the condition every downstream asset follows,
retries, and the weekly schedule.

The roots (`web_shards`, `curated_captions`) are the only assets anything launches directly:
the weekly schedule, the inbox sensor, a user in the UI, `recap materialize`, `dvc repro`.
Everything after them carries `follows_its_inputs`, evaluated by Dagster's automation sensor
(the daemon, every 30 s): an asset is requested when one of its inputs got a new *data
version* since the last tick, when its own code version changed, or when one of its
partitions newly appears; never while an input is missing or running, or while it runs.

Data versions are content: an asset that reports none gets Dagster's default, a hash of its
code version and its inputs' data versions, and the roots report the DVC hash of what they
wrote. So a weekly rerun of an unchanged world writes the same bytes, gets the same data
version, and nothing downstream reruns: what is current is skipped. A changed parameter or
edited code (code_versions.py) changes a version, and what depends on it follows, in graph
order, one tick after its inputs settle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import cast

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from recap_dagster.code_versions import code_version
from recap_dagster.config import PARAMS

ROOTS = ("web_shards", "curated_captions")  # what the schedule launches; the rest follows
# Models trained on the web shards as they were: a shard that lands later is recaptioned,
# filtered and mixed in, but retrains none of them (nor, through the captioner, recaptions
# every shard again: watched live, one dropped shard did, experiments/live_automation.py).
# They follow their other inputs (the curated set, the mixes), their code and their params;
# materializing one retrains it on every shard there is. The generator reads the shards'
# images, but what it trains on is the mix, which it follows.
TRAINED_ON_A_SNAPSHOT = ("captioner_pretrained", "vae", "generator")  # they do not follow `web_shards`
# The generator bundles the prompt upsampler into its registered model (its `upsample`
# parameter), so it runs after it; a retrained upsampler retrains no generator.
BUNDLED_ONLY = {"generator": ("prompt_upsampler",)}
WEEKLY = "0 3 * * 1"  # Mondays 03:00 UTC
TRIGGER_TAG = "recap/trigger"


def follows_its_inputs(ignoring: Sequence[str] = ()) -> AutomationCondition:
    """`eager()`, with "a dependency materialized" narrowed to "a dependency's data changed"
    (of the inputs not in `ignoring`) and the asset's own code change added."""
    changed = AutomationCondition.any_deps_match(AutomationCondition.data_version_changed())
    if ignoring:
        changed = changed.ignore(AssetSelection.assets(*ignoring))
    label = "an input's data version changed" + (f" ({', '.join(ignoring)} aside)" if ignoring else "")
    inputs_changed = changed.with_label(label)
    # What exists is kept current; what was never made is made only when it newly goes missing
    # (a new shard's partition), not because an input changed: a mix's generator that no one
    # asked for is not trained by a change to the mixes.
    kept_current = (inputs_changed | AutomationCondition.code_version_changed()) & ~AutomationCondition.missing()
    trigger = cast(  # the union of asset-only and asset-or-check conditions; pyright cannot bind it
        AutomationCondition, AutomationCondition.newly_missing() | kept_current
    )
    return (
        trigger.since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("follows its inputs")


def operated(assets: Iterable[AssetsDefinition]) -> list[AssetsDefinition]:
    """`assets` with their code versions and, downstream of the roots, `follows_its_inputs`."""
    params = asdict(PARAMS)

    def operate(spec: AssetSpec) -> AssetSpec:
        name = spec.key.to_user_string()
        ignoring = (*(("web_shards",) if name in TRAINED_ON_A_SNAPSHOT else ()), *BUNDLED_ONLY.get(name, ()))
        condition = None if name in ROOTS else follows_its_inputs(ignoring)
        return spec.replace_attributes(code_version=code_version(name, params), automation_condition=condition)

    return [asset_def.map_asset_specs(operate) for asset_def in assets]


def root_partitions(instance: DagsterInstance, assets: Iterable[AssetsDefinition]) -> dict[str, list[str | None]]:
    """Each root's partitions ([None]: unpartitioned), dynamic ones read from `instance`."""
    found: dict[str, list[str | None]] = {}
    for asset_def in assets:
        name = asset_def.key.to_user_string()
        if name in ROOTS:
            partitions = asset_def.partitions_def
            found[name] = (
                [None] if partitions is None else list(partitions.get_partition_keys(dynamic_partitions_store=instance))
            )
    return found


def weekly_run_requests(partitions_by_root: dict[str, list[str | None]], tick: str) -> list[RunRequest]:
    """One run per root partition, keyed by the tick so a retried tick launches nothing twice."""
    return [
        RunRequest(
            run_key=f"{tick}:{name}:{partition or ''}",
            asset_selection=[AssetKey(name)],
            partition_key=partition,
            tags={TRIGGER_TAG: "weekly"},
        )
        for name, partitions in partitions_by_root.items()
        for partition in partitions
    ]


def automation_sensor() -> AutomationConditionSensorDefinition:
    """Evaluates every asset's condition every 30 s while the daemon runs; on by default (the
    UI's Automation page turns it off)."""
    return AutomationConditionSensorDefinition(
        "recap_automation",
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Keeps every asset after the roots current: requests it when an input's data or its "
        "own code changed, or a partition newly appeared (recap_dagster/automation.py).",
    )


def weekly_schedule(assets: Sequence[AssetsDefinition]) -> ScheduleDefinition:
    @schedule(
        name="weekly_pipeline",
        cron_schedule=WEEKLY,
        execution_timezone="UTC",
        target=AssetSelection.assets(*ROOTS),
        default_status=DefaultScheduleStatus.STOPPED,
        description="Rebuilds the roots every Monday at 03:00 UTC; every asset after them follows only "
        "where its inputs' data changed (recap_dagster/automation.py).",
    )
    def weekly_pipeline(context: ScheduleEvaluationContext) -> list[RunRequest] | SkipReason:
        partitions_by_root = root_partitions(context.instance, assets)
        if not any(partitions_by_root.values()):
            return SkipReason("no root partitions yet: the source lists no shards")
        tick = (context.scheduled_execution_time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M")
        return weekly_run_requests(partitions_by_root, tick)

    return weekly_pipeline
