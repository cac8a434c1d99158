"""Run configuration of the dataset assets: which profile and seed (defaults: params.yaml).

Static partitions are made when the code location loads, from params.yaml's profile (or
$RECAP_PROFILE); a run config naming another profile with another shard count is refused,
naming both, rather than silently building the wrong shards.
"""

from __future__ import annotations

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
        loaded = len(WEB_SHARD_PARTITIONS.get_partition_keys())
        if profile.web_shards != loaded:
            raise ValueError(
                f"profile {self.profile!r} has {profile.web_shards} web shards, but this code location "
                f"was loaded with {loaded} partitions (profile {PARAMS.profile!r}); set RECAP_PROFILE="
                f"{self.profile} or params.yaml's profile and reload"
            )
        return profile, PARAMS.world_config()
