"""Throughput of `read_shard` against a plain tarfile + PIL loop over the same shards.

    python benchmarks/shards.py [--shards 4] [--samples-per-shard 1000] [--repeats 5]

Writes `--shards` shards of 64x64 PNGs (noise plus a few shapes) with ShardWriter into a
temporary directory, then times, interleaved and repeated, two readers of every sample:
- reader:   `read_shard(path, decode=True)`: image decoded to an (H, W, 3) uint8 array,
            caption decoded, json parsed, every corruption check on;
- baseline: `tarfile.open(path)` iterated sequentially, each member read with
            `extractfile`, the image decoded with `PIL.Image.open(...).convert("RGB")` and
            `np.asarray`, the .txt decoded as UTF-8 and the .json parsed, so both do the
            same work but the baseline checks and groups nothing.
Prints the best (and median) images/second of each and the ratio reader / baseline.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from components.data.shard_layout import shard_name  # noqa: E402
from components.data.shard_reader import ReadStats, read_shard  # noqa: E402
from components.data.shard_writer import ShardWriter  # noqa: E402

SIZE = 64


def make_png(rng: np.random.Generator) -> bytes:
    """Noise with a few filled shapes: compresses like a small real image, not like a flat one."""
    pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) // 4 + 96
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x0, y0 = (int(v) for v in rng.integers(0, SIZE - 16, 2))
        x1, y1 = x0 + int(rng.integers(8, 16)), y0 + int(rng.integers(8, 16))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def write_shards(directory: Path, shards: int, per_shard: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for s in range(shards):
        path = directory / f"{shard_name(s)}.tar"
        with ShardWriter(path) as writer:
            for i in range(per_shard):
                key = f"{s:05d}{i:04d}"
                caption = f"a small picture number {i} of shard {s} with some shapes on noise"
                writer.write(key, make_png(rng), caption, {"url": f"https://example.com/{key}.png"})
        paths.append(path)
    return paths


def read_with_reader(paths: list[Path]) -> int:
    stats = ReadStats()
    n = 0
    for path in paths:
        for _ in read_shard(path, stats=stats, decode=True):
            n += 1
    assert stats.total_skipped == 0, stats.skipped
    return n


def read_plain(paths: list[Path]) -> int:
    n = 0
    for path in paths:
        with tarfile.open(path) as tar:
            for member in tar:
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                if member.name.endswith(".png"):
                    np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
                    n += 1
                elif member.name.endswith(".txt"):
                    data.decode("utf-8")
                elif member.name.endswith(".json"):
                    json.loads(data)
    return n


def time_once(fn: Callable[[list[Path]], int], paths: list[Path]) -> float:
    start = time.perf_counter()
    n = fn(paths)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--samples-per-shard", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_shards(Path(tmp), args.shards, args.samples_per_shard)
        total = args.shards * args.samples_per_shard
        assert read_with_reader(paths) == total and read_plain(paths) == total  # warm the page cache
        rates: dict[str, list[float]] = {"reader": [], "baseline": []}
        for repeat in range(args.repeats):
            # Alternate which goes first, so neither always gets the warmer cache.
            order = [("reader", read_with_reader), ("baseline", read_plain)]
            for name, fn in order if repeat % 2 == 0 else order[::-1]:
                rates[name].append(time_once(fn, paths))

    best = {name: max(r) for name, r in rates.items()}
    median = {name: statistics.median(r) for name, r in rates.items()}
    print(f"{args.shards} shards x {args.samples_per_shard} samples ({SIZE}x{SIZE} PNG), {args.repeats} repeats")
    for name in ("reader", "baseline"):
        print(f"{name:9s} best {best[name]:8.0f} img/s   median {median[name]:8.0f} img/s")
    print(
        f"ratio     best {best['reader'] / best['baseline']:.3f}        "
        f"median {median['reader'] / median['baseline']:.3f}"
    )


if __name__ == "__main__":
    main()
