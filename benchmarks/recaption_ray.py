"""Recaptioning on a local Ray cluster: one actor against two, and the in-process engine.

    python benchmarks/recaption_ray.py [--checkpoint models/captioner] [--shards 4] [--per-shard 128]

Writes --shards shards of --per-shard real web images (re-packed from data/web_shards) into a
temporary folder, then recaptions all of them three times with the same captioner, settings
and seed, each time into a fresh sidecar folder:
  in-process   run_recaption (components/recaption/run.py), as `--engine local` runs it, with
               --threads torch threads (the whole machine);
  ray x1       run_recaption_on_ray with one actor of one CPU (one torch thread);
  ray x2       the same with two actors (one CPU and thread each).
Both Ray runs use one local cluster of --cpus CPUs, started once before them (its start is
not timed). Two figures per run, images captioned per second: `wall`, over the seconds from
the call to its return (the actors' start and model loading inside it, as a user waits for
them), and `working`, from the moment the engine (or every actor) is ready to the return.
Prints each, the ratios ray x2 / ray x1, and checks that the three runs wrote the same
sidecars in every column.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from benchmarks.recaption_memory import repack  # noqa: E402
from components.recaption.ray_pool import RayPoolSettings, run_recaption_on_ray  # noqa: E402
from components.recaption.run import RunInfo, RunResult, run_recaption  # noqa: E402
from components.recaption.settings import RecaptionSettings  # noqa: E402
from components.recaption.sidecar import read_sidecar  # noqa: E402


def timed(run: Callable[[Callable[[RunInfo], None]], RunResult]) -> dict[str, float]:
    """Images per second of `run` (called with an on_start callback): wall and working."""
    ready: list[float] = []
    start = time.perf_counter()
    result = run(lambda _: ready.append(time.perf_counter()))
    end = time.perf_counter()
    images = sum(r.counts.get("ok", 0) for r in result.reports)
    return {"wall": images / (end - start), "working": images / (end - ready[0]), "seconds": end - start}


def show(figure: dict[str, float]) -> str:
    return f"{figure['wall']:.1f} img/s wall ({figure['seconds']:.1f} s), {figure['working']:.1f} img/s working"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("models/captioner"))
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--per-shard", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers per engine (0: decode inline)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="the in-process run's torch threads")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="the local cluster's CPUs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import ray

    base = {"batch_size": args.batch, "num_workers": args.num_workers, "device": "cpu", "progress_every": 256}
    in_process = RecaptionSettings.with_overrides({**base, "torch_threads": args.threads})
    on_ray = RecaptionSettings.with_overrides({**base, "torch_threads": 1})
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "shards").mkdir()
        tars = repack(args.data_root, root / "shards", args.shards, args.per_shard)
        print(f"{args.shards} shards x {args.per_shard} images, batch {args.batch}, captioner {args.checkpoint}")

        figures["in-process"] = timed(
            lambda on_start: run_recaption(
                tars,
                root / "in-process",
                args.checkpoint,
                in_process,
                seed=args.seed,
                locks_dir=root / "locks",
                progress=False,
                on_start=on_start,
            )
        )
        print(f"in-process ({args.threads} threads): {show(figures['in-process'])}")

        ray.init(
            num_cpus=args.cpus, object_store_memory=256 << 20, include_dashboard=False, logging_level=logging.WARNING
        )
        try:
            for actors in (1, 2):
                name = f"ray x{actors}"
                figures[name] = timed(
                    lambda on_start, name=name, actors=actors: run_recaption_on_ray(
                        tars,
                        root / name,
                        args.checkpoint,
                        on_ray,
                        seed=args.seed,
                        pool=RayPoolSettings(actors=actors),
                        on_start=on_start,
                    )
                )
                print(f"{name} ({actors} actor(s) of 1 CPU): {show(figures[name])}")
        finally:
            ray.shutdown()
        for tar in tars:
            reference = read_sidecar(root / "in-process" / f"{tar.stem}.parquet")
            for name in ("ray x1", "ray x2"):
                pd.testing.assert_frame_equal(read_sidecar(root / name / f"{tar.stem}.parquet"), reference)
    ratio = {k: figures["ray x2"][k] / figures["ray x1"][k] for k in ("wall", "working")}
    print(
        f"two actors / one actor: {ratio['wall']:.2f}x wall, {ratio['working']:.2f}x working; "
        "the three runs wrote identical sidecars"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "images": args.shards * args.per_shard,
            "images_per_second": figures,
            "ratio_two_over_one": ratio,
            "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "ray": ray.__version__,
        }
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
