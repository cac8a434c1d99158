"""The training set under the safety policy: every filtered example whose image or any caption a
mix may draw on breaks the policy leaves every mix, counted by the rule it broke.

An example is removed whole rather than given another of its captions: a blocked caption says
something about its image that the policy refuses (a blocked word on the sign, say), and a clean
caption of the same image would still teach the generator to draw it. Removing it before the
mixes are built keeps them comparable: every mix draws on the same examples.

The captions checked are those the mixes draw on (the original, the short and the filtered one,
and the oracle caption where the rows carry it); the images are the web shards' own, read once.
Images are read only when an image check can refuse something (a blocked sign word of the
world's vocabulary, or an image classifier), so a policy of other terms costs no decoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from components.curation.mix import ORACLE_COLUMN
from components.data.shard_reader import read_shard
from components.safety import (
    ALLOWED,
    RemovalCounts,
    SafetyPolicy,
    SafetyVerdict,
    check_image,
    check_text,
    images_can_be_refused,
)

CAPTION_COLUMNS: tuple[str, ...] = ("original_caption", "short_caption", "caption", ORACLE_COLUMN)


@dataclass
class ScreenedRows:
    rows: pd.DataFrame  # the rows the policy keeps, in their order
    counts: RemovalCounts  # removed examples by rule
    removed: pd.DataFrame  # shard, key, rule of every removed example
    policy_version: str

    def summary(self) -> dict[str, Any]:
        """JSON-able figures for the mixes' metadata."""
        return {
            "policy_version": self.policy_version,
            "examples_checked": self.counts.seen,
            "removed": self.counts.removed,
            "removed_by_rule": self.counts.as_dict(),
        }


def _caption_verdict(policy: SafetyPolicy, row: Mapping[str, object]) -> SafetyVerdict | None:
    for column in CAPTION_COLUMNS:
        text = row.get(column)
        if isinstance(text, str) and text.strip():
            verdict = check_text(policy, text, what="caption")
            if not verdict.allowed:
                return verdict
    return None


def _image_verdicts(policy: SafetyPolicy, tars: Mapping[str, Path], wanted: set[tuple[str, str]]) -> dict:
    """(shard, key) -> the refusing verdict, for every wanted image an image check refuses."""
    refused: dict[tuple[str, str], SafetyVerdict] = {}
    for shard in sorted({shard for shard, _ in wanted}):
        for sample in read_shard(tars[shard]):
            if (shard, sample.key) in wanted:
                verdict = check_image(policy, np.asarray(sample.image))
                if not verdict.allowed:
                    refused[(shard, sample.key)] = verdict
    return refused


def screen_rows(rows: pd.DataFrame, policy: SafetyPolicy, tars: Mapping[str, Path]) -> ScreenedRows:
    """`rows`: filtered sidecar rows with a `shard` column; `tars`: shard -> its web shard tar
    (read only when images_can_be_refused). Rows with status "error" pass through untouched:
    the mix leaves them out and counts them itself."""
    counts = RemovalCounts()
    removed: list[tuple[str, str, str]] = []
    if not policy.enabled:
        return ScreenedRows(rows, counts, pd.DataFrame(removed, columns=["shard", "key", "rule"]), policy.version)
    usable = rows["status"] != "error"
    wanted = set(zip(rows.loc[usable, "shard"], rows.loc[usable, "key"], strict=True))
    if images_can_be_refused(policy):
        if missing := sorted({shard for shard, _ in wanted} - set(tars)):
            raise ValueError(f"no web shard tar for shard(s) {missing[:5]} to check the images of")
        images = _image_verdicts(policy, tars, wanted)
    else:
        images = {}
    keep: list[bool] = []
    for row, ok in zip(rows.to_dict("records"), usable, strict=True):
        if not ok:
            keep.append(True)
            continue
        verdict = images.get((row["shard"], row["key"])) or _caption_verdict(policy, row)
        counts.add(verdict or ALLOWED)
        if verdict is not None:
            removed.append((row["shard"], row["key"], str(verdict.rule)))
        keep.append(verdict is None)
    kept = rows.loc[keep].reset_index(drop=True)
    return ScreenedRows(kept, counts, pd.DataFrame(removed, columns=["shard", "key", "rule"]), policy.version)
