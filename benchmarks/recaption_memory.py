"""Recaptioning memory against the number of shards: it must stay flat.

    python benchmarks/recaption_memory.py [--checkpoint models/captioner] [--shards 16]

Writes --shards shards of --per-shard web images each (re-packed from data/web_shards,
so every shard is real data) into a temporary directory, then recaptions them one after
another with recaption_shards, exactly as the asset does (DataLoader workers included),
and prints the process's resident memory (RSS, from /proc) after each shard, the peak,
and the growth over the second half of the shards. The first shards warm the allocator
(torch's and glibc's arenas grow to their working size); after that, a pipeline that held
anything per shard (captions, images, parquet frames) would keep climbing with the shard
count, and a flat one does not.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from components.captioner.engine import CaptionEngine  # noqa: E402
from components.captioner.loading import load_captioner  # noqa: E402
from components.captioner.sampling import SamplingSettings  # noqa: E402
from components.data.shard_layout import list_shards  # noqa: E402
from components.data.shard_reader import read_shard  # noqa: E402
from components.data.shard_writer import ShardWriter  # noqa: E402
from components.io.hashing import directory_version  # noqa: E402
from components.recaption.recaption_shard import StreamSettings, recaption_shards  # noqa: E402


def rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def repack(data_root: Path, out: Path, shards: int, per_shard: int) -> list[Path]:
    """`shards` shards of `per_shard` samples each, cycling through the web shards' samples."""
    samples = [s for tar in list_shards(data_root / "web_shards") for s in read_shard(tar, decode=False)]
    paths, i = [], 0
    for n in range(shards):
        path = out / f"{n:05d}.tar"
        with ShardWriter(path) as writer:
            for _ in range(per_shard):
                s = samples[i % len(samples)]
                key = f"{n:05d}{i % 10_000:04d}"
                meta = {k: v for k, v in s.meta.items() if k not in ("key", "caption", "width", "height")}
                writer.write(key, s.image, s.caption, meta, ext=s.ext)
                i += 1
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("models/captioner"))
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--per-shard", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    engine = CaptionEngine(load_captioner(args.checkpoint), SamplingSettings(), max_rows=2 * args.batch)
    version = directory_version(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        tars = repack(args.data_root, Path(tmp) / "shards", args.shards, args.per_shard)
        print(
            f"{args.shards} shards x {args.per_shard} images, batch {args.batch}, "
            f"{args.num_workers} loader worker(s); RSS before recaptioning {rss_mib():.0f} MiB"
        )
        after: list[float] = []

        def on_report(report) -> None:
            after.append(rss_mib())
            print(
                f"shard {report.shard}: {report.counts} {report.images_per_second:6.1f} img/s  RSS {after[-1]:.0f} MiB",
                flush=True,
            )

        recaption_shards(
            tars,
            Path(tmp) / "out",
            engine,
            captioner_version=version,
            progress=False,
            stream=StreamSettings(batch_size=args.batch, num_workers=args.num_workers),
            on_report=on_report,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    half = len(after) // 2
    print(
        f"\nRSS after shard 1 {after[0]:.0f} MiB, after shard {half} {after[half - 1]:.0f} MiB, after shard "
        f"{len(after)} {after[-1]:.0f} MiB: growth {after[-1] - after[half - 1]:+.0f} MiB over the second half "
        f"({len(after) - half} shards; the first half includes the allocator's warm-up); peak {peak:.0f} MiB"
    )


if __name__ == "__main__":
    main()
