"""Checks a project root written by an earlier commit against this code, with its own captioner:

1. recaptions one web shard again and compares the sidecar with the one the earlier code
   wrote, column by column (same captioner, same seed: the captions must be identical);
2. re-judges the held-out images and prints the figures beside those saved in the
   captioner's manifest (written by the earlier code's evaluation).

    python experiments/decoding_path_check.py --root /path/to/old/checkout --shard 00000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from components.captioner.engine import CaptionEngine
from components.captioner.loading import load_captioner, read_extra
from components.captioner.sampling import SamplingSettings
from components.data.curated import load_curated
from components.data.shard_layout import list_shards
from components.evaluation.captioner import evaluate_captioner
from components.io.hashing import directory_version
from components.recaption.recaption_shard import StreamSettings, recaption_shard

HEADLINE = ("object_recall", "hallucination_rate", "count_accuracy", "sign_accuracy", "cider_d", "mean_tokens")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="a project root with data/ and models/captioner")
    parser.add_argument("--shard", default="00000")
    parser.add_argument("--seed", type=int, default=0, help="the seed the earlier run used")
    parser.add_argument("--heldout", type=int, default=200, help="held-out images judged (the recipe's eval_images)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_dir = args.root / "models" / "captioner"
    captioner = load_captioner(model_dir)

    engine = CaptionEngine(captioner, SamplingSettings(seed=args.seed))
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        recaption_shard(
            args.root / "data" / "web_shards" / f"{args.shard}.tar",
            out,
            engine,
            captioner_version=directory_version(model_dir),
            stream=StreamSettings(),
            progress=False,
        )
        print(f"recaptioned shard {args.shard} in {time.perf_counter() - start:.1f} s")
        before = pd.read_parquet(args.root / "data" / "recaptioned" / f"{args.shard}.parquet")
        after = pd.read_parquet(Path(out) / f"{args.shard}.parquet")
    print(f"rows {len(before)} / {len(after)}")
    for column in before.columns:
        same = column in after.columns and before[column].equals(after[column])
        print(f"  {column:<18} {'identical' if same else 'DIFFERS'}")

    items = load_curated(list_shards(args.root / "data" / "curated"), "heldout")[: args.heldout]
    saved = read_extra(model_dir)["metrics"]
    now, _ = evaluate_captioner(captioner, items, SamplingSettings(seed=args.seed))
    print(f"held-out figures, {len(items)} images: saved with the captioner -> this code")
    for caption_type in ("long", "short"):
        for name in HEADLINE:
            key = f"{caption_type}/{name}"
            print(f"  {key:<28} {saved[key]:8.4f} -> {now[key]:8.4f}")


if __name__ == "__main__":
    main()
