"""Run configuration of the dataset assets: which profile and seed (defaults: params.yaml).

Static partitions are made when the code location loads, from params.yaml's profile (or
$RECAP_PROFILE); a run config naming another profile with another shard count is refused,
naming both, rather than silently building the wrong shards.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import Config, StaticPartitionsDefinition

from components.data.profiles import DatasetProfile, resolve_profile
from components.world import WorldConfig
from recap_dagster.project import load_params

PARAMS = load_params()
WEB_SHARD_PARTITIONS = StaticPartitionsDefinition(PARAMS.dataset_profile().web_shard_keys())


class WorldDataConfig(Config):
    profile: str = PARAMS.profile
    seed: int = PARAMS.seed

    def resolve(self) -> tuple[DatasetProfile, WorldConfig]:
        """The profile and world settings, checked before any work starts."""
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        profile = resolve_profile(self.profile, PARAMS.dataset)
        check_partitions_match(profile, WEB_SHARD_PARTITIONS.get_partition_keys(), PARAMS.profile)
        return profile, PARAMS.world_config()


def check_partitions_match(profile: DatasetProfile, partition_keys: Sequence[str], loaded_profile: str) -> None:
    """The run's profile must have the shards the code location was loaded with."""
    if profile.web_shard_keys() != list(partition_keys):
        raise ValueError(
            f"profile {profile.name!r} has {profile.web_shards} web shards, but this code location was "
            f"loaded with {len(partition_keys)} partitions (profile {loaded_profile!r}); set "
            f"RECAP_PROFILE={profile.name} or params.yaml's profile, and reload the code location"
        )
