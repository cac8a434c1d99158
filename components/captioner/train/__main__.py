"""Fine-tune a captioner on a curated set from a shell: what torchrun launches once per device
for a data-parallel run (README, Data-parallel training), outside Dagster.

    torchrun --standalone --nproc_per_node 2 -m components.captioner.train \\
        --curated data/curated --work work/captioner --out models/captioner \\
        --set finetune.strategy=ddp --set finetune.devices=2

Each `--set key=value` overrides the recipe as params.yaml's `captioner:` does (the value read
as JSON or YAML). Rank 0 writes the captioner to --out; the held-out evaluation is the `captioner`
asset's (evaluation sits above the models), so none is run here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from components.captioner.train.recipe import resolve_recipe
from components.captioner.train.stage import finetune
from components.data.shard_layout import list_shards
from components.io.command_line import setting


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m components.captioner.train", description="Fine-tune a captioner on a curated set."
    )
    parser.add_argument("--curated", type=Path, required=True, help="the curated set's folder of shards")
    parser.add_argument("--work", type=Path, required=True, help="checkpoints; a rerun resumes from them")
    parser.add_argument("--out", type=Path, required=True, help="where rank 0 writes the captioner")
    parser.add_argument("--init", type=Path, default=None, help="a saved captioner to start from")
    parser.add_argument("--recipe", default="quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], type=setting, metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    shards = list_shards(args.curated)
    if not shards:
        parser.error(f"no curated shards in {args.curated}")
    result = finetune(
        resolve_recipe(args.recipe, dict(args.overrides)),
        init_dir=args.init,
        curated_shards=shards,
        work_dir=args.work,
        out_dir=args.out,
        seed=args.seed,
    )
    if result.fit.is_global_zero:
        print(f"captioner written to {result.model_dir}: {result.fit.steps} steps in {result.fit.minutes:.1f} min")


if __name__ == "__main__":
    main()
