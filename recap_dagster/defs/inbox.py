"""The inbox sensor: a user source's folder watched as shards land in it.

`dataset.source` names a folder that img2dataset writes into, or where a user drops shards.
Every minute the sensor lists it and, by components/data/inbox.py's rules, takes each shard
that is whole (stopped changing, reads to its end) and new (not a partition yet, not the same
bytes as one): it becomes a partition of `web_shards`, and one run records, recaptions and
filters it (`recaptioned_shards`, `filtered_captions` of that partition; the assets after
them follow by their automation conditions). A shard still being written waits; a broken one
and a copy of a taken one are logged once and skipped; a removed one stops being a partition.
The sensor's cursor is the inbox state (what it saw last tick, the digests of what it took).

The world's shards are made, not dropped: with `dataset.source: world`, `web_shards` keeps
its static partitions and there is no inbox sensor.
"""

from __future__ import annotations

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from components.data.inbox import InboxState
from components.data.source import ShardSource, SourceError
from recap_dagster.config import SETTLE_SECONDS, source_partition_changes

INBOX_TARGET = ("web_shards", "recaptioned_shards", "filtered_captions")  # a new shard's run


def shard_inbox_sensor(
    source: ShardSource, partitions: DynamicPartitionsDefinition, settle_seconds: float = SETTLE_SECONDS
) -> SensorDefinition:
    """The sensor over `source`, adding `partitions` (web_shards' dynamic partitions)."""
    partitions_name = str(partitions.name)

    @sensor(
        name="shard_inbox_sensor",
        target=AssetSelection.assets(*INBOX_TARGET),
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Watches {source.location} for new img2dataset shards: each whole, new one becomes a "
        "web_shards partition, recorded, recaptioned and filtered in one run; one still being written waits, "
        "a broken one or a copy of a taken one is logged and skipped (recap_dagster/defs/inbox.py).",
    )
    def shard_inbox(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        state = InboxState.from_json(context.cursor)
        known = context.instance.get_dynamic_partitions(partitions_name)
        try:
            sync = source_partition_changes(source, known, state, settle_seconds=settle_seconds)
        except SourceError as error:
            return SkipReason(str(error))  # the folder is gone or empty: said each tick, the cursor kept
        for name, problem in sync.intake.broken.items():
            context.log.warning(f"shard {name}.tar skipped until it changes: {problem}")
        for name, original in sync.intake.duplicates.items():
            context.log.warning(f"shard {name}.tar skipped: the same bytes as shard {original}, already taken")
        changes = []
        if sync.added:
            changes.append(partitions.build_add_request(sync.added))
        if sync.removed:
            changes.append(partitions.build_delete_request(sync.removed))
        waiting = "; ".join(f"{name}: {why}" for name, why in sync.intake.waiting.items()) or "none"
        return SensorResult(
            run_requests=[
                RunRequest(partition_key=key, asset_selection=[AssetKey(name) for name in INBOX_TARGET])
                for key in sync.added
            ],
            dynamic_partitions_requests=changes,
            cursor=state.to_json(),
            skip_reason=None if changes else f"{len(sync.keys)} shard(s), none new or removed; waiting: {waiting}",
        )

    return shard_inbox
