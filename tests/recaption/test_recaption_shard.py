"""Recaptioning shards into sidecars: one row per key (damage included), reruns that skip
complete shards, a SIGKILLed run that resumes the shard in progress from its progress
file, and the parquet format DESIGN.md gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from components.captioner.engine import CaptionEngine
from components.captioner.sampling import SamplingSettings
from components.data.shard_layout import shard_name
from components.recaption.recaption_shard import StreamSettings, recaption_shard, recaption_shards
from components.recaption.shard_stream import ShardImages
from components.recaption.sidecar import (
    COLUMNS,
    TEMP_MARK,
    compare_sidecar_keys,
    progress_path,
    read_sidecar,
    read_sidecar_info,
    sidecar_path,
    write_sidecar,
)
from tests.data.shard_files import good_members, member_offsets, raw_tar, write_shard
from tests.helpers import REPO

SETTINGS = SamplingSettings(max_short_tokens=8, max_long_tokens=16)


def damaged_shard(path: Path) -> Path:
    """Keys 0-1 good, 2 undecodable pixels, 3 no caption, 4 an unsafe member, 5 good, a
    duplicate of key 0 in a later group, and a tail cut inside key 6."""
    members = good_members("000000000") + good_members("000000001", seed=1)
    bad_png = good_members("000000002", seed=2)
    bad_png[0] = (bad_png[0][0], b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature, garbage after
    members += bad_png
    members += [m for m in good_members("000000003", seed=3) if not m[0].endswith(".txt")]
    members += [("../escape.txt", b"nope")]
    members += good_members("000000005", seed=5) + good_members("000000000", seed=9)
    members += good_members("000000006", seed=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw_tar(path, members)
    offset, _ = member_offsets(path)["000000006.png"]
    path.write_bytes(path.read_bytes()[: offset + 10])  # cuts into the last sample's image
    return path


def engine_for(captioner) -> CaptionEngine:
    model, tokenizer = captioner
    return CaptionEngine(model, SETTINGS)


@pytest.mark.parametrize("workers", [0, 2])
def test_stream_gives_every_key_once_whatever_the_workers(tmp_path: Path, workers: int) -> None:
    from torch.utils.data import DataLoader

    from components.recaption.shard_stream import keep_records

    tar = damaged_shard(tmp_path / "00000.tar")
    loader = DataLoader(ShardImages(tar, 64), batch_size=2, num_workers=workers, collate_fn=keep_records)
    records = sorted((r for batch in loader for r in batch), key=lambda r: r.position)
    assert [r.position for r in records] == list(range(len(records)))
    by_key = {(r.key, r.status): r for r in records}
    assert by_key[("000000001", "ok")].image.shape == (64, 64, 3)
    assert by_key[("000000001", "ok")].resized_from == (6, 8)  # the helpers' images are 6 x 8
    assert by_key[("000000002", "error")].reason.startswith("undecodable_image")
    assert by_key[("000000003", "error")].reason == "missing_caption"
    assert by_key[("../escape.txt", "shard_problem")].reason == "unsafe_member"
    assert by_key[("000000000", "error")].reason == "duplicate_key"
    assert by_key[("000000006", "error")].reason == "truncated_tar"


def test_sidecar_keys_equal_shard_keys_with_damage(tmp_path: Path, captioner) -> None:
    tar = damaged_shard(tmp_path / "shards" / "00000.tar")
    report = recaption_shard(
        tar,
        tmp_path / "out",
        engine_for(captioner),
        captioner_version="v1",
        stream=StreamSettings(batch_size=2, num_workers=0),
        progress=False,
    )
    agreement = compare_sidecar_keys(report.sidecar, tar)
    assert agreement.ok, agreement.summary()
    assert agreement.tar_damage and agreement.tar_damage.startswith("truncated_tar")
    frame = read_sidecar(report.sidecar)
    assert list(frame.columns) == list(COLUMNS)
    assert frame["key"].tolist() == ["000000000", "000000001", "000000002", "000000003", "000000005", "000000006"]
    status = dict(zip(frame["key"], frame["status"], strict=False))
    assert status == {
        "000000000": "ok",
        "000000001": "ok",
        "000000002": "error",
        "000000003": "error",
        "000000005": "ok",
        "000000006": "error",
    }
    errors = frame[frame["status"] == "error"]
    assert errors["short_caption"].isna().all() and errors["long_caption"].isna().all()
    assert (errors["reason"] != "").all()
    ok = frame[frame["status"] == "ok"]
    assert ok["original_caption"].tolist() == ["good 000000000", "good 000000001", "good 000000005"]
    assert (ok["short_tokens"] <= 8).all() and (ok["long_tokens"] <= 16).all()
    assert set(frame["captioner_version"]) == {"v1"} and set(frame["top_p"]) == {0.9}
    assert set(frame["temperature"]) == {0.7} and set(frame["seed"]) == {0}
    assert report.counts == {"ok": 3, "error": 3}
    assert report.reasons == {"undecodable_image": 1, "missing_caption": 1, "truncated_tar": 1}
    assert ("../escape.txt", "unsafe_member") in report.shard_problems
    assert any(k == "000000000" and r.startswith("duplicate_key") for k, r in report.shard_problems)
    assert report.resized == 3
    info = read_sidecar_info(report.sidecar)
    assert info["source"]["tar_name"] == "00000.tar" and info["counts"] == {"ok": 3, "error": 3}


def test_rerun_of_a_complete_shard_does_nothing(tmp_path: Path, captioner) -> None:
    write_shard(tmp_path / "00000.tar", n=5)
    engine = engine_for(captioner)
    first = recaption_shard(
        tmp_path / "00000.tar",
        tmp_path / "out",
        engine,
        captioner_version="v1",
        progress=False,
        stream=StreamSettings(batch_size=4, num_workers=0),
    )
    stamp = first.sidecar.stat().st_mtime_ns
    images_before = engine.stats.images
    again = recaption_shard(tmp_path / "00000.tar", tmp_path / "out", engine, captioner_version="v1", progress=False)
    assert again.skipped and again.counts == {"ok": 5}
    assert engine.stats.images == images_before and first.sidecar.stat().st_mtime_ns == stamp
    # Another captioner, or other settings, or a changed tar: the sidecar is stale and redone.
    redone = recaption_shard(tmp_path / "00000.tar", tmp_path / "out", engine, captioner_version="v2", progress=False)
    assert not redone.skipped and set(read_sidecar(redone.sidecar)["captioner_version"]) == {"v2"}


def test_batch_size_does_not_change_the_sidecar(tmp_path: Path, captioner) -> None:
    write_shard(tmp_path / "00000.tar", n=7)
    frames = []
    for batch, workers in ((1, 0), (7, 0), (3, 2)):
        report = recaption_shard(
            tmp_path / "00000.tar",
            tmp_path / f"out{batch}",
            engine_for(captioner),
            captioner_version="v1",
            progress=False,
            stream=StreamSettings(batch_size=batch, num_workers=workers),
        )
        frames.append(read_sidecar(report.sidecar))
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])


def test_sidecar_write_is_atomic_and_checked(tmp_path: Path) -> None:
    from components.recaption.sidecar import SourceInfo

    source = SourceInfo("00000.tar", 1, "0" * 64, "v", {})
    rows = pd.DataFrame([{c: None for c in COLUMNS} | {"key": "a", "status": "ok", "reason": ""}])
    with pytest.raises(ValueError, match="repeat keys"):
        write_sidecar(tmp_path / "x.parquet", pd.concat([rows, rows]), source)
    with pytest.raises(ValueError, match="status"):
        write_sidecar(tmp_path / "x.parquet", rows.assign(status="maybe"), source)
    with pytest.raises(ValueError, match="lack columns"):
        write_sidecar(tmp_path / "x.parquet", rows.drop(columns="seed"), source)
    assert list(tmp_path.iterdir()) == []
    path = write_sidecar(tmp_path / "x.parquet", rows, source)
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]
    assert pq.read_schema(path).field("short_tokens").type == "int32"


CHILD = """
import sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from components.captioner.sampling import SamplingSettings
from components.captioner.engine import CaptionEngine
from components.captioner.loading import load_captioner
from components.recaption.recaption_shard import StreamSettings, recaption_shards
engine = CaptionEngine(load_captioner(sys.argv[1]), SamplingSettings(max_short_tokens=8, max_long_tokens=16))
original = engine.caption
def slow_caption(images, keys, **kwargs):
    Path(sys.argv[3], "calls").open("a").write(keys[0] + "\\n")
    time.sleep(0.3)
    return original(images, keys, **kwargs)
engine.caption = slow_caption
tars = sorted(Path(sys.argv[2]).glob("*.tar"))
recaption_shards(tars, sys.argv[3], engine, captioner_version="v1", progress=False,
                 stream=StreamSettings(batch_size=2, images_per_call=2, num_workers=0, progress_every=2))
"""


def test_sigkill_mid_shard_then_rerun_gives_every_key_once(tmp_path: Path, captioner_dir: Path, captioner) -> None:
    shards, out = tmp_path / "shards", tmp_path / "out"
    shards.mkdir()
    out.mkdir()
    for i in range(2):
        write_shard(shards / f"{shard_name(i)}.tar", n=8, seed=i)
    (out / f"00001.parquet{TEMP_MARK}999").write_bytes(b"half a parquet")  # an earlier killed write
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(captioner_dir), str(shards), str(out)], env=env)
    try:
        deadline = time.monotonic() + 120
        # Wait until shard 00000 is complete and shard 00001 is in progress.
        while not (
            sidecar_path(out, "00000.tar").exists()
            and (out / "calls").exists()
            and len((out / "calls").read_text().split()) >= 6
        ):
            assert child.poll() is None, "the child ended before it could be killed"
            assert time.monotonic() < deadline, "the child made no progress"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not sidecar_path(out, "00001.tar").exists()
    assert progress_path(out, "00001.tar").exists()  # the killed shard's rows so far (>= 2: one call)
    done_before = sidecar_path(out, "00000.tar").stat().st_mtime_ns

    engine = engine_for(captioner)
    captioned: list[str] = []
    original = engine.caption

    def counted(images, keys, **kwargs):
        captioned.extend(keys)
        return original(images, keys, **kwargs)

    engine.caption = counted
    reports = recaption_shards(
        sorted(shards.glob("*.tar")),
        out,
        engine,
        captioner_version="v1",
        progress=False,
        stream=StreamSettings(batch_size=2, num_workers=0),
    )
    assert [r.skipped for r in reports] == [True, False]
    assert 0 < len(captioned) < 8 and reports[1].resumed_rows == 8 - len(captioned)  # resumed, not redone
    assert not progress_path(out, "00001.tar").exists()
    assert sidecar_path(out, "00000.tar").stat().st_mtime_ns == done_before
    assert not [p for p in out.iterdir() if TEMP_MARK in p.name]
    for i in range(2):
        frame = read_sidecar(sidecar_path(out, f"{shard_name(i)}.tar"))
        assert sorted(frame["key"]) == [f"{k:09d}" for k in range(8)]
        assert compare_sidecar_keys(sidecar_path(out, f"{shard_name(i)}.tar"), shards / f"{shard_name(i)}.tar").ok
    json.loads(json.dumps([r.to_dict() for r in reports], default=str))  # reports serialise for metadata


def test_out_of_memory_mid_shard_halves_the_batch_and_loses_nothing(tmp_path: Path, captioner) -> None:
    import torch

    write_shard(tmp_path / "00000.tar", n=9)
    reference = recaption_shard(
        tmp_path / "00000.tar",
        tmp_path / "ref",
        engine_for(captioner),
        captioner_version="v1",
        progress=False,
        stream=StreamSettings(batch_size=8, num_workers=0),
    )
    engine = engine_for(captioner)
    original = engine.caption

    def small_memory(images, keys, *, max_rows=None):  # a device that holds 4 captions in flight
        if max_rows is None or max_rows > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(images, keys, max_rows=max_rows)

    engine.caption = small_memory
    report = recaption_shard(
        tmp_path / "00000.tar",
        tmp_path / "out",
        engine,
        captioner_version="v1",
        progress=False,
        stream=StreamSettings(batch_size=8, num_workers=0),
    )
    assert report.batch_size == 2 and report.counts == {"ok": 9}
    pd.testing.assert_frame_equal(read_sidecar(report.sidecar), read_sidecar(reference.sidecar))
