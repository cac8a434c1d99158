"""The concurrency pools the assets belong to, and their limits (deploy/pools.yaml).

Dagster keeps pool limits in the instance, not in dagster.yaml (which only has a default for
pools it has not been told about), so `apply_pool_limits` writes the file's limits into the
instance: the CLI calls it before every command, scripts/ui.sh before starting Dagster, so a
fresh DAGSTER_HOME gets them and an edited file takes effect at the next start.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from dagster import DagsterInstance

CAPTIONER_POOL = "captioner"  # training the captioner
TRAINER_POOL = "trainer"  # training the alignment judge, the autoencoder, the generators
RECAPTION_POOL = "recaption"  # running the captioner over shards (recaptioning, filtering's regeneration)
POOLS = (CAPTIONER_POOL, TRAINER_POOL, RECAPTION_POOL)
POOLS_FILE = Path(__file__).resolve().parent.parent / "deploy" / "pools.yaml"


def pool_limits(path: Path = POOLS_FILE) -> dict[str, int]:
    """{pool: limit} from `path`; a pool missing from it, a stranger in it, or a limit that
    is not a positive integer fails naming it."""
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must map pool names to limits, got {type(raw).__name__}")
    if unknown := sorted(set(raw) - set(POOLS)):
        raise ValueError(f"unknown pool(s) {unknown} in {path}; the assets use {list(POOLS)}")
    if missing := [pool for pool in POOLS if pool not in raw]:
        raise ValueError(f"{path} gives no limit for pool(s) {missing}")
    for pool, limit in raw.items():
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"pool {pool!r} in {path} needs a positive integer limit, got {limit!r}")
    return {pool: int(raw[pool]) for pool in POOLS}


def apply_pool_limits(instance: DagsterInstance, path: Path = POOLS_FILE) -> dict[str, int]:
    """Sets each pool's limit in `instance` to the file's (only where it differs)."""
    limits = pool_limits(path)
    for pool, limit in limits.items():
        info = instance.event_log_storage.get_concurrency_info(pool)
        if info.slot_count != limit:
            instance.event_log_storage.set_concurrency_slots(pool, limit)
    return limits


if __name__ == "__main__":  # scripts/ui.sh: python -m recap_dagster.pools
    with DagsterInstance.get() as current:
        print(f"pools: {apply_pool_limits(current)}")
