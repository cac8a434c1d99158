"""Progress within a shard: a run killed mid-shard keeps its rows so far in a progress file,
and the rerun captions only the images not saved and writes the same sidecar as an
uninterrupted run, damaged shards included."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from components.captioner.engine import CaptionEngine
from components.recaption.recaption_shard import ShardReport, StreamSettings, recaption_shard
from components.recaption.sidecar import (
    POSITION,
    TEMP_MARK,
    progress_path,
    read_progress,
    read_sidecar,
    read_sidecar_info,
    remove_partial_sidecars,
    sidecar_path,
)
from tests.data.shard_files import write_shard
from tests.recaption.test_recaption_shard import damaged_shard, engine_for


class Killed(RuntimeError):
    """Stands for a SIGKILL: the run stops in the middle of a caption call."""


def counting(engine: CaptionEngine, kill_at_call: int | None = None) -> list[str]:
    """Wraps engine.caption: returns the list of keys it is asked to caption, and raises
    Killed on call number `kill_at_call` (1-based) before captioning anything."""
    seen: list[str] = []
    calls = [0]
    original = engine.caption

    def caption(images, keys, **kwargs):
        calls[0] += 1
        if kill_at_call is not None and calls[0] == kill_at_call:
            raise Killed("killed mid-call (simulated)")
        seen.extend(keys)
        return original(images, keys, **kwargs)

    engine.caption = caption
    return seen


def run(captioner, tar: Path, out: Path, stream: StreamSettings, *, kill_at_call=None, version="v1", force=False):
    """(report or None when killed, keys captioned)."""
    engine = engine_for(captioner)
    seen = counting(engine, kill_at_call)
    try:
        report: ShardReport | None = recaption_shard(
            tar, out, engine, captioner_version=version, stream=stream, progress=False, force=force
        )
    except Killed:
        report = None
    return report, seen


def test_killed_run_resumes_from_its_progress_file_to_the_same_sidecar(tmp_path: Path, captioner) -> None:
    tar = tmp_path / "shards" / "00000.tar"
    tar.parent.mkdir()
    write_shard(tar, n=10)
    stream = StreamSettings(batch_size=2, images_per_call=2, num_workers=0, progress_every=3)
    reference, all_keys = run(captioner, tar, tmp_path / "ref", stream)
    assert reference is not None and reference.resumed_rows == 0 and len(all_keys) == 10
    assert not progress_path(tmp_path / "ref", tar).exists()  # removed once the sidecar is written

    out = tmp_path / "out"
    # Calls of 2 images: saves after 4 and 8 rows (>= 3 new rows each); the 5th call is killed.
    killed, before = run(captioner, tar, out, stream, kill_at_call=5)
    assert killed is None and len(before) == 8 and not sidecar_path(out, tar).exists()
    rows, info = read_progress(progress_path(out, tar))
    assert [r["key"] for r in rows] == all_keys[:8] and [r[POSITION] for r in rows] == list(range(8))
    assert info["source"]["captioner_version"] == "v1" and info["problems"] == [] and info["resized"] == 8
    assert info["generated_tokens"] > 0 and info["seconds"] > 0

    report, after = run(captioner, tar, out, stream)
    assert report is not None and after == all_keys[8:]  # only the images the progress file lacks
    assert report.resumed_rows == 8 and report.counts == {"ok": 10} and report.resized == 10
    assert not progress_path(out, tar).exists()
    resumed, uninterrupted = read_sidecar(report.sidecar), read_sidecar(reference.sidecar)
    assert resumed.equals(uninterrupted), pd.testing.assert_frame_equal(resumed, uninterrupted)
    info = read_sidecar_info(report.sidecar)
    assert info["resumed_rows"] == 8 and info["generated_tokens"] == reference.generated_tokens
    assert read_sidecar_info(reference.sidecar)["resumed_rows"] == 0


@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_damaged_shard_keeps_positions_and_duplicates(tmp_path: Path, captioner, workers: int) -> None:
    """Positions 0-1 ok, 2 undecodable, 3 an unsafe member (a shard problem), 4 no caption,
    5 ok, 6 key 0 again, 7 a truncated key. One record per call, saved after each: killed at
    the third caption (position 5), positions 0-4 are saved, the problem among them; the rerun
    skips them by position, so key 0's second group (position 6) still comes and still
    becomes a duplicate_key problem."""
    tar = damaged_shard(tmp_path / "shards" / "00000.tar")
    stream = StreamSettings(batch_size=1, images_per_call=1, num_workers=workers, progress_every=1)
    reference, all_keys = run(captioner, tar, tmp_path / "ref", stream)
    assert reference is not None and all_keys == ["000000000", "000000001", "000000005"]

    out = tmp_path / "out"
    killed, before = run(captioner, tar, out, stream, kill_at_call=3)
    assert killed is None and before == ["000000000", "000000001"]
    rows, info = read_progress(progress_path(out, tar))
    assert sorted(r[POSITION] for r in rows) == [0, 1, 2, 4]
    assert info["problems"] == [[3, "../escape.txt", "unsafe_member"]]

    report, after = run(captioner, tar, out, stream)
    assert report is not None and after == ["000000005"] and report.resumed_rows == 4
    resumed, uninterrupted = read_sidecar(report.sidecar), read_sidecar(reference.sidecar)
    assert resumed.equals(uninterrupted), pd.testing.assert_frame_equal(resumed, uninterrupted)
    assert report.shard_problems == reference.shard_problems
    assert ("../escape.txt", "unsafe_member") in report.shard_problems
    assert any(k == "000000000" and r.startswith("duplicate_key") for k, r in report.shard_problems)
    info, reference_info = read_sidecar_info(report.sidecar), read_sidecar_info(reference.sidecar)
    for name in ("source", "counts", "reasons", "shard_problems", "resized", "generated_tokens"):
        assert info[name] == reference_info[name], name


def test_progress_of_another_captioner_or_with_force_is_deleted(tmp_path: Path, captioner, caplog) -> None:
    tar = tmp_path / "00000.tar"
    write_shard(tar, n=6)
    stream = StreamSettings(batch_size=2, images_per_call=2, num_workers=0, progress_every=2)
    out = tmp_path / "out"
    killed, _ = run(captioner, tar, out, stream, kill_at_call=2, version="v0")
    assert killed is None and len(read_progress(progress_path(out, tar))[0]) == 2

    with caplog.at_level(logging.WARNING, logger="recap.recaption"):
        report, seen = run(captioner, tar, out, stream, version="v1")
    assert report is not None and len(seen) == 6 and report.resumed_rows == 0
    assert "deleting progress file .00000.progress.parquet" in caplog.text
    assert set(read_sidecar(report.sidecar)["captioner_version"]) == {"v1"}
    assert not progress_path(out, tar).exists()

    killed, _ = run(captioner, tar, out, stream, kill_at_call=2, version="v2")
    assert killed is None and progress_path(out, tar).exists()
    report, seen = run(captioner, tar, out, stream, version="v2", force=True)
    assert report is not None and len(seen) == 6 and report.resumed_rows == 0
    assert not progress_path(out, tar).exists()


def test_progress_every_zero_saves_nothing(tmp_path: Path, captioner) -> None:
    tar = tmp_path / "00000.tar"
    write_shard(tar, n=4)
    stream = StreamSettings(batch_size=1, images_per_call=1, num_workers=0, progress_every=0)
    killed, _ = run(captioner, tar, tmp_path / "out", stream, kill_at_call=3)
    assert killed is None and not progress_path(tmp_path / "out", tar).exists()
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="progress_every"):
            StreamSettings(progress_every=bad)  # type: ignore[arg-type]


def test_cleanup_keeps_progress_files_and_removes_their_temporaries(tmp_path: Path, captioner) -> None:
    tar = tmp_path / "00000.tar"
    write_shard(tar, n=4)
    stream = StreamSettings(batch_size=1, images_per_call=1, num_workers=0, progress_every=1)
    out = tmp_path / "out"
    run(captioner, tar, out, stream, kill_at_call=3)
    saved = progress_path(out, tar)
    killed_write = saved.with_name(f"{saved.name}{TEMP_MARK}999")
    killed_write.write_bytes(b"half a parquet")
    assert remove_partial_sidecars(out) == [killed_write]
    assert saved.exists() and not killed_write.exists()
    assert len(read_progress(saved)[0]) == 2
