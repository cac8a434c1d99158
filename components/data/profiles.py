"""Dataset profiles: how many web and curated images a run makes, as named data.

`quick` is the CPU demo that the main job runs in minutes; `paper` is the long run that
reproduces the paper's tables. Every size can be overridden by name (params.yaml's
`dataset:` block or a Dagster run config), and is checked before any work starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from components.data.shard_layout import shard_name


@dataclass(frozen=True)
class DatasetProfile:
    name: str
    web_shards: int  # number of web shards, one Dagster partition each
    web_shard_size: int  # images per web shard
    curated_train: int  # curated images the captioner fine-tunes on
    curated_heldout: int  # curated images kept for evaluation only
    curated_shard_size: int = 1000  # images per curated shard

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "name":
                continue
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"dataset.{f.name} must be an integer, got {value!r}")
            minimum = 0 if f.name == "curated_heldout" else 1
            if value < minimum:
                raise ValueError(f"dataset.{f.name} must be >= {minimum}, got {value!r}")

    @property
    def curated_total(self) -> int:
        return self.curated_train + self.curated_heldout

    @property
    def curated_shards(self) -> int:
        return -(-self.curated_total // self.curated_shard_size)

    def web_shard_keys(self) -> list[str]:
        return [shard_name(i) for i in range(self.web_shards)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PROFILES: dict[str, DatasetProfile] = {
    "quick": DatasetProfile(name="quick", web_shards=4, web_shard_size=1000, curated_train=800, curated_heldout=200),
    "paper": DatasetProfile(name="paper", web_shards=50, web_shard_size=1000, curated_train=5000, curated_heldout=500),
}


def resolve_profile(name: str, overrides: Mapping[str, Any] | None = None) -> DatasetProfile:
    """The named profile with `overrides` applied; unknown names fail loudly."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known profiles: {sorted(PROFILES)}")
    overrides = dict(overrides or {})
    known = {f.name for f in fields(DatasetProfile)} - {"name"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown dataset setting(s) {unknown}; known: {sorted(known)}")
    return replace(PROFILES[name], **overrides)
