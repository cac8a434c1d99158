"""Filtering one shard: known verdicts from a judge that believes whatever does not say
"purple", regeneration then fallback, error rows carried, every key kept once, reruns that
skip a current shard, and bad inputs refused before any work."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from components.curation.filter_shard import (
    ADDED_COLUMNS,
    FALLBACK,
    CurationSettings,
    filter_shard,
    seed_for_attempt,
)
from components.recaption.sidecar import COLUMNS
from tests.data.shard_files import good_members, raw_tar

LONG = "A small red circle sits in the top left corner of a plain white picture with nothing else."


class PurpleJudge:
    """Scores 0.1 a caption that says "purple", else 0.9: a hallucination detector of known answers.
    `encoded` keeps how many images each encode_images call took."""

    image_size = 8
    score_kind = "match"

    def __init__(self) -> None:
        self.encoded: list[int] = []

    def encode_images(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        assert images.shape[1:] == (3, 8, 8)
        self.encoded.append(images.shape[0])
        return (images.flatten(1),)

    def score_encoded(self, features: tuple[torch.Tensor, ...], captions: Sequence[str]) -> torch.Tensor:
        assert features[0].shape == (len(captions), 3 * 8 * 8)
        return torch.tensor([0.1 if "purple" in c else 0.9 for c in captions])

    def score(self, images: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        return self.score_encoded(self.encode_images(images), captions)


def sidecar_rows(keys: list[str], longs: list[str], *, status: dict[str, str] | None = None) -> pd.DataFrame:
    status = status or {}
    return pd.DataFrame(
        {
            "key": keys,
            "original_caption": [f"alt text {k}" for k in keys],
            "short_caption": [f"a shape {k}" for k in keys],
            "long_caption": longs,
            "short_tokens": [3] * len(keys),
            "long_tokens": [len(t.split()) for t in longs],
            "status": [status.get(k, "ok") for k in keys],
            "reason": ["undecodable_image" if status.get(k) == "error" else "" for k in keys],
            "captioner_version": ["v1"] * len(keys),
            "top_p": [0.9] * len(keys),
            "temperature": [0.7] * len(keys),
            "seed": [0] * len(keys),
        }
    )


@pytest.fixture
def shard(tmp_path: Path) -> tuple[Path, Path]:
    keys = [f"00000000{i}" for i in range(5)]
    tar = raw_tar(tmp_path / "00000.tar", [m for i, k in enumerate(keys) for m in good_members(k, seed=i)])
    longs = [LONG, LONG.replace("red", "purple"), LONG.replace("red", "purple"), "Too short.", LONG]
    sidecar = tmp_path / "recaptioned" / "00000.parquet"
    sidecar.parent.mkdir()
    sidecar_rows(keys, longs, status={keys[4]: "error"}).to_parquet(sidecar)
    return sidecar, tar


def regenerate_fixing(fixable: set[str]):
    calls: list[tuple[list[str], int]] = []

    def regenerate(images: torch.Tensor, keys: Sequence[str], attempt: int) -> list[tuple[str, int]]:
        calls.append((list(keys), attempt))
        return [(LONG if k in fixable and attempt == 2 else LONG.replace("red", "purple"), 17) for k in keys]

    return regenerate, calls


def test_regeneration_then_fallback_with_every_key_once(shard, tmp_path: Path) -> None:
    sidecar, tar = shard
    regenerate, calls = regenerate_fixing({"000000001"})
    judge = PurpleJudge()
    report = filter_shard(
        sidecar, tar, tmp_path / "filtered", judge, threshold=0.5, judge_version="j1", regenerate=regenerate
    )
    # The 4 ok rows' images encoded once, for their three captions and both regenerations.
    assert judge.encoded == [4]
    frame = pd.read_parquet(report.path)
    assert list(frame.columns) == [*COLUMNS, *ADDED_COLUMNS]
    assert list(frame["key"]) == [f"00000000{i}" for i in range(5)]
    rows = frame.set_index("key")
    assert rows.loc["000000000", ["source", "attempts", "filter_reason"]].tolist() == ["long", 1, ""]
    # Fails, regenerated twice, the second regeneration passes.
    fixed = rows.loc["000000001"]
    assert fixed["source"] == "long" and fixed["attempts"] == 3 and fixed["caption"] == LONG
    assert fixed["filter_reason"] == "low_alignment: 0.100 < 0.500; low_alignment: 0.100 < 0.500"
    # Fails every attempt: the original takes its place, with every reason.
    fallen = rows.loc["000000002"]
    assert fallen["source"] == "original" and fallen["caption"] == "alt text 000000002" and fallen["attempts"] == 3
    assert fallen["filter_reason"].endswith(FALLBACK) and fallen["filter_reason"].count("low_alignment") == 3
    assert rows.loc["000000003", "filter_reason"].startswith("too_short: 2 tokens < 10")
    # The sidecar's error row is carried as such, with its original caption and no scores.
    carried = rows.loc["000000004"]
    assert carried["status"] == "error" and carried["caption"] == "alt text 000000004"
    assert carried["filter_reason"] == "sidecar_error: undecodable_image" and np.isnan(carried["long_alignment"])
    assert rows.loc["000000000", "original_alignment"] == pytest.approx(0.9)
    assert [attempt for _, attempt in calls] == [1, 2]  # one call per attempt, only the failing rows
    assert calls[0][0] == ["000000001", "000000002", "000000003"]
    assert report.sources == {"long": 2, "original": 3} and report.reasons == {"low_alignment": 2, "too_short": 1}
    assert report.fallback_share == pytest.approx(2 / 4)


def test_a_current_shard_is_skipped_and_a_changed_input_redone(shard, tmp_path: Path) -> None:
    sidecar, tar = shard
    args = dict(judge=PurpleJudge(), threshold=0.5, judge_version="j1")
    first = filter_shard(sidecar, tar, tmp_path / "filtered", **args)
    again = filter_shard(sidecar, tar, tmp_path / "filtered", **args)
    assert not first.skipped and again.skipped and again.sources == first.sources
    other = filter_shard(sidecar, tar, tmp_path / "filtered", **{**args, "threshold": 0.05})
    assert not other.skipped and other.sources.get("long") == 3  # purple captions pass at 0.05


def test_without_regeneration_a_failing_caption_falls_back_at_once(shard, tmp_path: Path) -> None:
    sidecar, tar = shard
    report = filter_shard(
        sidecar,
        tar,
        tmp_path / "f",
        PurpleJudge(),
        threshold=0.5,
        judge_version="j1",
        settings=CurationSettings(attempts=0),
    )
    frame = pd.read_parquet(report.path).set_index("key")
    assert frame.loc["000000001", "attempts"] == 1 and frame.loc["000000001", "source"] == "original"


def test_bad_inputs_stop_before_any_work(shard, tmp_path: Path) -> None:
    sidecar, tar = shard
    with pytest.raises(ValueError, match=r"threshold=1.5 is outside the judge's score range \[0, 1\]"):
        filter_shard(sidecar, tar, tmp_path / "f", PurpleJudge(), threshold=1.5, judge_version="j1")
    broken = tmp_path / "broken.parquet"
    pd.read_parquet(sidecar).drop(columns=["long_tokens"]).to_parquet(broken)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['long_tokens'\]"):
        filter_shard(broken, tar, tmp_path / "f", PurpleJudge(), threshold=0.5, judge_version="j1")
    with pytest.raises(ValueError, match="attempts=-1"):
        CurationSettings(attempts=-1)
    assert not (tmp_path / "f").exists()


def test_attempt_seeds_are_new_and_stable() -> None:
    seeds = [seed_for_attempt(0, a) for a in (1, 2, 3)]
    assert len(set(seeds)) == 3 and seeds == [seed_for_attempt(0, a) for a in (1, 2, 3)]
    assert seed_for_attempt(1, 1) != seeds[0]
