"""Oracle captions: for every web image of the shapes world, the curated writer's descriptive
caption of its true scene (the `world_scene` record each web sample carries), every statement
true and nothing left out. Not a captioner: the upper bound a captioner could reach, the `oracle`
caption source of the training mixes (components/curation/mix.py).

Deterministic: the writer's phrasing is drawn from a generator keyed by (seed, shard, key), so
the same image always gets the same caption. A sample without a scene record (a user's
img2dataset source, or damage) stops with an error naming it: oracle captions exist only where
the truth is known.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from components.data.shard_reader import ReadStats, read_shard
from components.world import Scene, describe_scene


def _rng(seed: int, shard: str, key: str) -> np.random.Generator:
    digest = hashlib.sha256(f"oracle\0{seed}\0{shard}\0{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def oracle_captions(tars: Sequence[Path], seed: int = 0) -> pd.DataFrame:
    """-> DataFrame (shard, key, oracle_caption) for every sample of the shards (a shard's name is
    its file stem); damaged samples are skipped as the shard reader skips them."""
    rows: list[tuple[str, str, str]] = []
    for tar in tars:
        shard = tar.stem
        for sample in read_shard(tar, stats=ReadStats(), decode=False):
            record = sample.meta.get("world_scene")
            if record is None:
                raise ValueError(
                    f"{tar}: sample {sample.key!r} has no world_scene record; oracle captions exist only "
                    "for the shapes world, whose samples carry their true scene"
                )
            scene = Scene.from_dict(record)
            rows.append((shard, sample.key, describe_scene(scene, _rng(seed, shard, sample.key)).descriptive))
    return pd.DataFrame.from_records(rows, columns=["shard", "key", "oracle_caption"])
