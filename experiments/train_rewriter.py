"""A local rewriter trained outside Dagster, for comparisons of its recipe (docs/results.md
"Prompt upsampling"): the profile's recipe with any override, on a data root's curated set and
filtered sidecars, saved where `experiments/measure_upsampler.py` measures it.

    python experiments/train_rewriter.py --data data --out work/rewriters/both \\
        --set pairs=both --set max_steps=400 --set batch_size=16 [--threads 1]
    python experiments/train_rewriter.py --out work/rewriters/seq2seq --set preset=small_seq2seq   # the T5 peer
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from components.data.shard_layout import list_shards
from components.io.command_line import setting
from components.upsampling.train.recipe import resolve_upsampler_recipe
from components.upsampling.train.stage import train_upsampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data"), help="a data root with curated/ and filtered/")
    parser.add_argument("--out", type=Path, required=True, help="the saved rewriter's folder (new)")
    parser.add_argument("--work", type=Path, help="checkpoints (default: OUT beside, with _work)")
    parser.add_argument("--profile", default="paper")
    parser.add_argument(
        "--set", action="append", default=[], type=setting, metavar="KEY=VALUE", help="a recipe override (repeatable)"
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recipe = resolve_upsampler_recipe(args.profile, {"max_minutes": None, "progress_bar": False, **dict(args.set)})
    result = train_upsampler(
        recipe,
        curated_shards=list_shards(args.data / "curated"),
        sidecars=sorted((args.data / "filtered").glob("*.parquet")),
        work_dir=args.work or args.out.with_name(args.out.name + "_work"),
        out_dir=args.out,
        seed=args.seed,
    )
    print(json.dumps({"steps": result.fit.steps, "minutes": round(result.fit.minutes, 2), "pairs": result.pairs}))


if __name__ == "__main__":
    main()
