"""A user's own data as the tests write it: img2dataset shards of every kind the reader meets,
and a curated set in both layouts, with what each key's sidecar row must say."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from tests.data.shard_files import raw_tar


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def sample(key: str, image: Image.Image, fmt: str, caption: str, **meta: object) -> list[tuple[str, bytes]]:
    ext = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[fmt]
    record = {"key": key, "caption": caption, "width": image.width, "height": image.height, **meta}
    return [
        (f"{key}.{ext}", encoded(image, fmt)),
        (f"{key}.txt", caption.encode()),
        (f"{key}.json", json.dumps(record).encode()),
    ]


def picture(seed: int, size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)


def write_index(path: Path, keys: list[str], status: dict[str, str] | None = None) -> None:
    status = status or {}
    pd.DataFrame(
        {
            "key": keys,
            "caption": [f"alt text of {k}" for k in keys],
            "status": [status.get(k, "success") for k in keys],
            "url": [f"https://example.com/{k}.jpg" for k in keys],
        }
    ).to_parquet(path)


# What each key of shard 00000 must get: (status, the starts of its reason's notes, "; "-joined).
EXPECTED_ROWS = {
    "000000000": ("ok", "resized from 320x200"),  # jpg, larger than the model
    "000000001": ("ok", "converted from mode L"),  # png, grey
    "000000002": ("ok", "converted from mode RGBA"),  # webp with alpha, small
    "000000003": ("error", "undecodable_image"),  # a PNG signature, garbage after
    "000000004": ("error", "missing_caption"),  # no .txt
    "000000005": ("ok", "resized from 20x30; not in the shard's index"),  # in the tar only
    "000000006": ("error", "missing_in_tar"),  # in the index only
    "000000008": ("error", "too_many_pixels"),  # 13000 x 13000 claimed by a small PNG
}


def bomb_png() -> bytes:
    """A valid PNG of 13000 x 13000 black pixels: under 1 MB encoded, about 0.5 GB decoded."""
    return encoded(Image.new("L", (13000, 13000)), "PNG")


def write_user_source(folder: Path) -> Path:
    """Two img2dataset shards: 00000 with every kind of image and fault (EXPECTED_ROWS), plus
    a refused unsafe member; 00001 with three clean jpgs. Returns `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    members = [
        *sample("000000000", picture(0, (320, 200)), "JPEG", "a photo of things"),
        *sample("000000001", picture(1, (64, 64), "L"), "PNG", "grey"),
        *sample("000000002", picture(2, (24, 24), "RGBA"), "WEBP", ""),
    ]
    broken = sample("000000003", picture(3, (64, 64)), "PNG", "broken")
    broken[0] = (broken[0][0], b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    members += broken
    members += [m for m in sample("000000004", picture(4, (64, 64)), "PNG", "x") if not m[0].endswith(".txt")]
    members += sample("000000005", picture(5, (20, 30)), "JPEG", "tar only")
    # Unsafe: refused (a shard problem, not a row). Its key is "../000000007", not the index's
    # 000000007, which the tar therefore lacks (shard_layout.split_member_name).
    members += [("../000000007.png", b"nope")]
    members += [("000000008.png", bomb_png()), *sample("000000008", picture(8, (4, 4)), "PNG", "bomb")[1:]]
    raw_tar(folder / "00000.tar", members)
    index_keys = ["000000000", "000000001", "000000002", "000000003", "000000004", "000000006", "000000007"]
    write_index(folder / "00000.parquet", [*index_keys, "000000008", "000000009"], {"000000009": "failed_to_download"})
    raw_tar(
        folder / "00001.tar",
        [m for i in range(3) for m in sample(f"00001000{i}", picture(10 + i, (48, 40)), "JPEG", f"clean {i}")],
    )
    write_index(folder / "00001.parquet", [f"00001000{i}" for i in range(3)])
    (folder / "README.txt").write_text("not a shard: ignored")
    return folder


def tree_checksums(folder: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under `folder`: (sha256, size, mtime in ns), so a write, rename or touch shows."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def write_curated_parquet(folder: Path, n: int = 12) -> Path:
    """A user's curated set as a parquet with image paths: n good rows (any sizes and formats)
    and one row of each fault the importer knows."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    colours = ["red", "green", "blue", "yellow"]
    rows = []
    for i in range(n):
        fmt, ext = [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")][i % 3]
        (images / f"{i}.{ext}").write_bytes(encoded(picture(100 + i, (40 + i, 50)), fmt))
        colour = colours[i % 4]
        rows.append(
            {
                "key": f"c{i:03d}",
                "image": f"images/{i}.{ext}",
                "short_caption": f"a {colour} square",
                "descriptive_caption": f"a large {colour} square on a plain background with {i % 3 + 1} small dots",
            }
        )
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    rows += [
        {"key": "bad_image", "image": "images/broken.png", "short_caption": "x", "descriptive_caption": "x y"},
        {"key": "no_file", "image": "images/gone.png", "short_caption": "x", "descriptive_caption": "x y"},
        {"key": "no_short", "image": "images/0.png", "short_caption": None, "descriptive_caption": "x y"},
        {"key": "too_long", "image": "images/0.png", "short_caption": "x", "descriptive_caption": "word " * 301},
        {"key": "c000", "image": "images/1.jpg", "short_caption": "x", "descriptive_caption": "x y"},  # a second c000
    ]
    path = folder / "curated.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


CURATED_REJECTS = {
    "undecodable_image: UnidentifiedImageError": 1,
    "missing_image: FileNotFoundError": 1,
    "missing_short_caption": 1,
    "descriptive_caption_too_long: 301 words > 300": 1,
    "duplicate_key": 1,
}
