"""Every key of a shard, its tar's and its index's, gets exactly one row; images are taken as
they come, with a pixel cap before decoding and notes on what was done to them."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from components.captioner.engine import CaptionEngine
from components.captioner.sampling import SamplingSettings
from components.recaption.recaption_shard import StreamSettings, recaption_shard
from components.recaption.shard_keys import NOT_IN_INDEX, shard_keys
from components.recaption.sidecar import compare_sidecar_keys, read_sidecar
from tests.data.shard_files import good_members, member_offsets, raw_tar

SETTINGS = SamplingSettings(max_short_tokens=6, max_long_tokens=10)


def write_index(path: Path, rows: list[tuple[str, str]]) -> None:
    """An img2dataset-style index: (key, status) rows, captions named after their keys."""
    pd.DataFrame(
        {"key": [k for k, _ in rows], "caption": [f"index {k}" for k, _ in rows], "status": [s for _, s in rows]}
    ).to_parquet(path)


def image_members(key: str, image: Image.Image, fmt: str) -> list[tuple[str, bytes]]:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    ext = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[fmt]
    meta = {"key": key, "caption": f"good {key}", "width": image.width, "height": image.height}
    return [
        (f"{key}.{ext}", buffer.getvalue()),
        (f"{key}.json", json.dumps(meta).encode()),
        (f"{key}.txt", f"good {key}".encode()),
    ]


def recaption(captioner, tar: Path, out: Path, **stream) -> pd.DataFrame:
    model, _ = captioner
    report = recaption_shard(
        tar,
        out,
        CaptionEngine(model, SETTINGS),
        captioner_version="v1",
        stream=StreamSettings(batch_size=2, num_workers=0, **stream),
        progress=False,
    )
    agreement = compare_sidecar_keys(report.sidecar, tar)
    assert agreement.ok, agreement.summary()
    return read_sidecar(report.sidecar)


def test_index_only_and_tar_only_keys_each_get_one_row(tmp_path: Path, captioner) -> None:
    # Tar: a, b, c and a link where e's image would be (refused: not a regular file). Index:
    # a, b, d (never written), e (its member refused), f (a failed download: not a key).
    link = tarfile.TarInfo("e.png")
    link.type, link.linkname = tarfile.SYMTYPE, "a.png"
    tar = raw_tar(
        tmp_path / "00000.tar",
        [*good_members("a"), *good_members("b", seed=1), *good_members("c", seed=2), link],
    )
    write_index(
        tar.with_suffix(".parquet"),
        [("a", "success"), ("b", "success"), ("d", "success"), ("e", "success"), ("f", "failed_to_download")],
    )
    keys = shard_keys(tar)
    assert keys.all == ["a", "b", "c", "d", "e"] and keys.tar_only == {"c"} and keys.damage is None

    frame = recaption(captioner, tar, tmp_path / "out")
    rows = {k: (s, r) for k, s, r in zip(frame["key"], frame["status"], frame["reason"], strict=True)}
    assert list(frame["key"]) == ["a", "b", "c", "d", "e"]
    assert rows["a"][0] == rows["b"][0] == rows["c"][0] == "ok"
    assert NOT_IN_INDEX in rows["c"][1] and NOT_IN_INDEX not in rows["a"][1]
    assert rows["d"] == ("error", "missing_in_tar") and rows["e"] == ("error", "unsafe_member")
    index_only = frame[frame["key"].isin(["d", "e"])]
    assert index_only["original_caption"].tolist() == ["index d", "index e"]
    assert index_only["short_caption"].isna().all()


def test_keys_keep_their_directory(tmp_path: Path, captioner) -> None:
    """A key is the reader's (shard_layout.split_member_name): "a/x.png" is sample "a/x", not
    "x", and a refused "../e.png" is "../e", so it says nothing about the index's "e"."""
    members = [(f"{d}/{name}", data) for d in ("a", "b") for name, data in good_members("x")]
    tar = raw_tar(tmp_path / "00000.tar", [*members, ("../e.png", b"x")])
    write_index(tar.with_suffix(".parquet"), [("a/x", "success"), ("x", "success"), ("e", "success")])
    keys = shard_keys(tar)
    assert keys.tar == ["a/x", "b/x"] and keys.index_only == ["x", "e"] and keys.tar_only == {"b/x"}

    frame = recaption(captioner, tar, tmp_path / "out")
    rows = {k: (s, r) for k, s, r in zip(frame["key"], frame["status"], frame["reason"], strict=True)}
    assert list(frame["key"]) == ["a/x", "b/x", "x", "e"]
    assert rows["a/x"][0] == rows["b/x"][0] == "ok" and NOT_IN_INDEX in rows["b/x"][1]
    assert rows["x"] == ("error", "missing_in_tar") and rows["e"] == ("error", "missing_in_tar")


def test_keys_after_a_truncation_are_reported_as_such(tmp_path: Path, captioner) -> None:
    tar = raw_tar(tmp_path / "00000.tar", [*good_members("a"), *good_members("b", seed=1), *good_members("c")])
    offset, _ = member_offsets(tar)["b.png"]
    tar.write_bytes(tar.read_bytes()[: offset + 10])  # cut inside b's image: b and c are lost
    write_index(tar.with_suffix(".parquet"), [("a", "success"), ("b", "success"), ("c", "success")])
    frame = recaption(captioner, tar, tmp_path / "out")
    status = dict(zip(frame["key"], frame["status"], strict=True))
    reason = dict(zip(frame["key"], frame["reason"], strict=True))
    assert list(frame["key"]) == ["a", "b", "c"] and status == {"a": "ok", "b": "error", "c": "error"}
    assert reason["b"] == "truncated_tar"  # the sample the cut went through
    assert reason["c"].startswith("after_truncation: the tar ends early (truncated_tar")


def test_images_as_they_come(tmp_path: Path, captioner) -> None:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8))
    grey = Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8))  # mode L, the model's size
    big = Image.new("RGB", (200, 100))  # 20,000 pixels: over the cap below
    members = [
        *image_members("jpg", rgb, "JPEG"),
        *image_members("grey", grey, "PNG"),
        *image_members("webp", rgb, "WEBP"),
        *image_members("big", big, "PNG"),
    ]
    tar = raw_tar(tmp_path / "00000.tar", members)
    frame = recaption(captioner, tar, tmp_path / "out", max_pixels=10_000)
    rows = {k: (s, r) for k, s, r in zip(frame["key"], frame["status"], frame["reason"], strict=True)}
    assert rows["jpg"] == ("ok", "resized from 30x40") and rows["webp"] == ("ok", "resized from 30x40")
    assert rows["grey"] == ("ok", "converted from mode L")
    assert rows["big"] == ("error", "too_many_pixels: 200x100 exceeds max_pixels=10000")
    with pytest.raises(ValueError, match="max_pixels=0"):
        StreamSettings(max_pixels=0)
