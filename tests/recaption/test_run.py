"""run_recaption: the sidecars recaption_shards writes for the same captioner and seed, callbacks
once per run and once per shard, and missing inputs refused before any work."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from components.data.shard_layout import shard_name
from components.io.hashing import directory_version
from components.recaption.recaption_shard import ShardReport, recaption_shards
from components.recaption.run import RunInfo, load_engine, run_recaption
from components.recaption.settings import RecaptionSettings
from components.recaption.sidecar import read_sidecar, sidecar_path
from tests.data.shard_files import write_shard

SETTINGS = RecaptionSettings.with_overrides(
    {"max_short_tokens": 8, "max_long_tokens": 16, "batch_size": 3, "num_workers": 0, "device": "cpu"}
)
SEED = 7


@pytest.fixture
def tars(tmp_path: Path) -> list[Path]:
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(2):
        write_shard(shards / f"{shard_name(i)}.tar", n=5, seed=i)
    return sorted(shards.glob("*.tar"))


def test_run_writes_the_sidecars_recaption_shards_writes(tmp_path: Path, captioner_dir: Path, tars: list[Path]) -> None:
    version = directory_version(captioner_dir)
    engine = load_engine(captioner_dir, "cpu", SETTINGS, SEED)
    reference = recaption_shards(
        tars, tmp_path / "reference", engine, captioner_version=version, stream=SETTINGS.stream, progress=False
    )
    started: list[RunInfo] = []
    seen: list[ShardReport] = []
    result = run_recaption(
        tars,
        tmp_path / "out",
        captioner_dir,
        SETTINGS,
        seed=SEED,
        locks_dir=tmp_path / "locks",
        progress=False,
        on_start=started.append,
        on_report=seen.append,
    )

    assert started == [RunInfo(device="cpu", captioner_version=version, shards=2)]
    assert result.device == "cpu" and result.captioner_version == version
    assert [r.shard for r in seen] == [r.shard for r in result.reports] == ["00000", "00001"]
    for ours, theirs in zip(result.reports, reference, strict=True):
        assert not ours.skipped and ours.sidecar == sidecar_path(tmp_path / "out", theirs.sidecar)
        frame = read_sidecar(ours.sidecar)
        assert (frame["status"] == "ok").all() and len(frame) == 5 and (frame["seed"] == SEED).all()
        assert frame["long_caption"].str.len().gt(0).any()
        pd.testing.assert_frame_equal(frame, read_sidecar(theirs.sidecar))
    ok = sum(r.counts["ok"] for r in result.reports)
    assert result.images_per_second == pytest.approx(ok / sum(r.seconds for r in result.reports))
    assert result.tokens_per_second == pytest.approx(
        sum(r.generated_tokens for r in result.reports) / sum(r.seconds for r in result.reports)
    )

    again: list[ShardReport] = []
    rerun = run_recaption(
        tars,
        tmp_path / "out",
        captioner_dir,
        SETTINGS,
        seed=SEED,
        locks_dir=tmp_path / "locks",
        progress=False,
        on_report=again.append,
    )
    assert [(r.shard, r.skipped) for r in again] == [("00000", True), ("00001", True)]
    assert rerun.recaptioned == [] and rerun.images_per_second is None and rerun.tokens_per_second is None


def test_a_missing_captioner_fails_before_any_shard_is_touched(tmp_path: Path, tars: list[Path]) -> None:
    started: list[RunInfo] = []
    with pytest.raises(FileNotFoundError, match="no_captioner_here"):
        run_recaption(
            tars,
            tmp_path / "out",
            tmp_path / "no_captioner_here",
            SETTINGS,
            seed=SEED,
            locks_dir=tmp_path / "locks",
            progress=False,
            on_start=started.append,
        )
    assert not started and not (tmp_path / "out").exists()


def test_a_missing_shard_fails_naming_it_before_the_captioner_loads(tmp_path: Path, tars: list[Path]) -> None:
    missing = tars[0].with_name(f"{shard_name(9)}.tar")
    with pytest.raises(FileNotFoundError, match=f"{shard_name(9)}.tar"):
        run_recaption(
            [*tars, missing],
            tmp_path / "out",
            tmp_path / "no_captioner_here",
            SETTINGS,
            seed=SEED,
            locks_dir=tmp_path / "locks",
            progress=False,
        )
    assert not (tmp_path / "out").exists()


def test_a_sidecar_folder_that_is_a_file_fails_before_the_captioner_loads(
    tmp_path: Path, tars: list[Path], captioner_dir: Path
) -> None:
    (tmp_path / "data").write_text("not a folder")  # a data root that is a file
    started: list[RunInfo] = []
    with pytest.raises(ValueError, match=r"'.*data' is a file"):
        run_recaption(
            tars,
            tmp_path / "data" / "recaptioned",
            captioner_dir,
            SETTINGS,
            seed=SEED,
            locks_dir=tmp_path / "locks",
            progress=False,
            on_start=started.append,
        )
    assert not started
