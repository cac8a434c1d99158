"""Run configuration of the dataset assets (which profile and seed; defaults: params.yaml),
and the partitions of the web shards.

For the shapes world the partitions are static, made when the code location loads from
params.yaml's profile (or $RECAP_PROFILE); a run config naming another profile with another
shard count is refused, naming both, rather than silently building the wrong shards.

For a user's img2dataset source the partitions are dynamic: one per shard file the source
lists, added (and removed) by `sync_source_partitions`, which the `web_shard_source_sensor`
runs every minute and the `recap` CLI before each command, so a shard that lands in the
source shows as a new partition without reloading the code location. Dagster's guidance
for "a partition per file that lands in storage" is this pattern; an external asset
observed with data versions was the alternative, but it cannot be materialized, so the
source's shards would get no tar-vs-index check, no preview, and no place in
`recap materialize --all` or `dvc repro`. The partitions' name carries the source's slug,
so two sources never share a partition set in one instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dagster import Config, DagsterInstance, DynamicPartitionsDefinition, StaticPartitionsDefinition

from components.data.profiles import DatasetProfile, resolve_profile
from components.data.source import ShardSource
from components.overrides import flatten
from components.world import WorldConfig
from recap_dagster.project import load_params

PARAMS = load_params()
SOURCE = PARAMS.shard_source()
WEB_SHARD_PARTITIONS: StaticPartitionsDefinition | DynamicPartitionsDefinition = (
    StaticPartitionsDefinition(PARAMS.dataset_profile().web_shard_keys())
    if SOURCE is None
    else DynamicPartitionsDefinition(name=f"web_shards_{SOURCE.slug}")
)


class WorldDataConfig(Config):
    profile: str = PARAMS.profile
    seed: int = PARAMS.seed

    def resolve(self) -> tuple[DatasetProfile, WorldConfig]:
        """The profile and world settings, checked before any work starts."""
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        profile = resolve_profile(self.profile, PARAMS.dataset_sizes())
        if isinstance(WEB_SHARD_PARTITIONS, StaticPartitionsDefinition):
            check_partitions_match(profile, WEB_SHARD_PARTITIONS.get_partition_keys(), PARAMS.profile)
        return profile, PARAMS.world_config()


class TrainingRunConfig(Config):
    """What the run config of every asset that trains a model holds: its recipe (a profile's
    name), the seed, whether a killed run resumes, and recipe overrides for this run; each
    asset's subclass adds `resolve`, which lays params.yaml's overrides and these on the recipe."""

    recipe: str = PARAMS.profile
    seed: int = PARAMS.seed
    resume: bool = True  # continue from the last checkpoint of a killed run
    overrides: dict[str, Any] = {}  # recipe overrides for this run (components/overrides.py)

    def mlflow_params(self, recipe: object) -> dict[str, Any]:
        """The seed and every field of the resolved `recipe`, as `recipe.<dotted path>`."""
        return {"seed": self.seed, **{f"recipe.{k}": v for k, v in flatten(recipe).items()}}


def check_partitions_match(profile: DatasetProfile, partition_keys: Sequence[str], loaded_profile: str) -> None:
    """The run's profile must have the shards the code location was loaded with."""
    if profile.web_shard_keys() != list(partition_keys):
        raise ValueError(
            f"profile {profile.name!r} has {profile.web_shards} web shards, but this code location was "
            f"loaded with {len(partition_keys)} partitions (profile {loaded_profile!r}); set "
            f"RECAP_PROFILE={profile.name} or params.yaml's profile, and reload the code location"
        )


@dataclass(frozen=True)
class PartitionSync:
    added: list[str]
    removed: list[str]
    keys: list[str]  # the source's shards, now the partitions


def source_partition_changes(source: ShardSource, known: Sequence[str]) -> PartitionSync:
    """What to add and remove so that the partitions are the source's shards."""
    keys = source.check()
    return PartitionSync(
        added=[k for k in keys if k not in set(known)], removed=[k for k in known if k not in set(keys)], keys=keys
    )


def sync_source_partitions(instance: DagsterInstance) -> PartitionSync | None:
    """Makes the dynamic partitions the user's source's shards; None for the world."""
    if SOURCE is None or not isinstance(WEB_SHARD_PARTITIONS, DynamicPartitionsDefinition):
        return None
    name = WEB_SHARD_PARTITIONS.name
    assert name is not None
    sync = source_partition_changes(SOURCE, instance.get_dynamic_partitions(name))
    if sync.added:
        instance.add_dynamic_partitions(name, sync.added)
    for key in sync.removed:
        instance.delete_dynamic_partition(name, key)
    return sync
