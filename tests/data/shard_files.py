"""Shards as the tests write them: good ones through ShardWriter, keyed like img2dataset,
and raw tars member by member, damage included, without the writer's checks."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from components.data.shard_reader import ReadStats, read_shard
from components.data.shard_writer import ShardWriter


def pixels(seed: int, height: int = 8, width: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def encode(array: np.ndarray, fmt: str = "PNG", **kwargs: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format=fmt, **kwargs)
    return out.getvalue()


def write_shard(path: Path, n: int = 5, *, seed: int = 0) -> dict[str, np.ndarray]:
    """A shard of `n` samples keyed like img2dataset; returns key -> pixels."""
    images = {}
    with ShardWriter(path, extra_columns=("source",)) as writer:
        for i in range(n):
            key = f"{i:09d}"
            images[key] = pixels(seed * 1000 + i)
            writer.write(
                key, encode(images[key]), f"caption {i} \u00e9", {"n": i, "tags": ["a", "b"]}, source=f"s{i % 2}"
            )
    return images


def raw_tar(path: Path, members: list[tuple[str, bytes] | tarfile.TarInfo]) -> Path:
    """A tar written member by member, damage included, without ShardWriter's checks."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def good_members(key: str, *, seed: int = 0, ext: str = "png") -> list[tuple[str, bytes]]:
    meta = {"key": key, "caption": f"good {key}", "width": 6, "height": 8}
    return [
        (f"{key}.{ext}", encode(pixels(seed), "PNG" if ext == "png" else "JPEG")),
        (f"{key}.json", json.dumps(meta).encode()),
        (f"{key}.txt", f"good {key}".encode()),
    ]


def read_all(path: Path, **kwargs: object) -> tuple[list, ReadStats]:
    stats = ReadStats()
    return list(read_shard(path, stats=stats, **kwargs)), stats


def member_offsets(path: Path) -> dict[str, tuple[int, int]]:
    """member name -> (offset of its data, size), for cutting files at known places."""
    with tarfile.open(path) as tar:
        return {m.name: (m.offset_data, m.size) for m in tar.getmembers()}
