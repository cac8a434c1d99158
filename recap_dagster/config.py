"""Run configuration of the dataset assets (which profile and seed; defaults: params.yaml),
and the partitions of the web shards.

For the shapes world the partitions are static, made when the code location loads from
params.yaml's profile (or $RECAP_PROFILE); a run config naming another profile with another
shard count is refused, naming both, rather than silently building the wrong shards.

For a user's img2dataset source the partitions are dynamic: one per shard file the source
lists, added (and removed) by `sync_source_partitions`, which the `shard_inbox_sensor`
runs every minute and the `recap` CLI before each command, so a shard that lands in the
source shows as a new partition without reloading the code location. Dagster's guidance
for "a partition per file that lands in storage" is this pattern; an external asset
observed with data versions was the alternative, but it cannot be materialized, so the
source's shards would get no tar-vs-index check, no preview, and no place in
`recap materialize --all` or `dvc repro`. The partitions' name carries the source's slug,
so two sources never share a partition set in one instance.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from dagster import Config, DagsterInstance, DynamicPartitionsDefinition, StaticPartitionsDefinition

from components.data.inbox import InboxState, Intake, take_shards
from components.data.profiles import DatasetProfile, resolve_profile
from components.data.source import ShardSource
from components.overrides import flatten
from components.training.settings import scale_budgets
from components.world import WorldConfig
from recap_dagster.project import load_params

Recipe = TypeVar("Recipe")

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
    # Every wall-clock budget of the recipe times this: the main job's factor on a machine
    # slower than the one the quick budgets were measured on (recap_dagster/job_budget.py).
    budget_scale: float = 1.0

    def scaled(self, recipe: Recipe) -> Recipe:
        """`recipe` with its budgets times budget_scale (the same recipe at 1)."""
        return recipe if self.budget_scale == 1.0 else scale_budgets(recipe, self.budget_scale)

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


# A shard must be unchanged this long before it is taken (img2dataset writes a tar over
# minutes; a copy into the inbox takes seconds); $RECAP_INBOX_SETTLE_SECONDS overrides it.
SETTLE_SECONDS = float(os.environ.get("RECAP_INBOX_SETTLE_SECONDS", "30"))


@dataclass(frozen=True)
class PartitionSync:
    added: list[str]
    removed: list[str]
    keys: list[str]  # the partitions after the sync
    intake: Intake  # what was waiting, broken or a duplicate, and why


def source_partition_changes(
    source: ShardSource,
    known: Sequence[str],
    state: InboxState,
    *,
    two_looks: bool = True,
    settle_seconds: float = SETTLE_SECONDS,
) -> PartitionSync:
    """What to add and remove so that the partitions are the source's whole, distinct shards
    (components/data/inbox.py); updates `state`."""
    intake = take_shards(
        source.stamps(),
        set(known),
        state,
        now=time.time(),
        settle_seconds=settle_seconds,
        tar_problem=source.tar_problem,
        tar_digest=source.tar_digest,
        two_looks=two_looks,
    )
    keys = sorted((set(known) - set(intake.removed)) | set(intake.taken))
    return PartitionSync(added=intake.taken, removed=intake.removed, keys=keys, intake=intake)


def sync_source_partitions(instance: DagsterInstance) -> PartitionSync | None:
    """Makes the dynamic partitions the user's source's whole shards (the CLI, before every
    command); None for the world."""
    if SOURCE is None or not isinstance(WEB_SHARD_PARTITIONS, DynamicPartitionsDefinition):
        return None
    name = WEB_SHARD_PARTITIONS.name
    assert name is not None
    known = instance.get_dynamic_partitions(name)
    # One look: a tar that reads to its end-of-archive blocks is whole, however recent (a user
    # who runs the CLI after img2dataset finished should not wait out the sensor's settling).
    sync = source_partition_changes(SOURCE, known, InboxState(), two_looks=False, settle_seconds=0)
    if sync.added:
        instance.add_dynamic_partitions(name, sync.added)
    for key in sync.removed:
        instance.delete_dynamic_partition(name, key)
    return sync
