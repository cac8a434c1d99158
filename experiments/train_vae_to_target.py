"""Trains an autoencoder of a preset until it keeps a target share of the held-out objects (or
its minutes run out), with the `vae` asset's code, images and held-out set, and writes it as a
VAE directory that experiments/generator_study.py --vae reads: the two-object study's 16x16x4
latent is `tiny_f4` trained to 99% (experiments/two_object_study.sh runs this when its VAE is
missing).

    python experiments/train_vae_to_target.py --root . --preset tiny_f4 --target 0.99 --minutes 90 \\
        --out work/two_object/vae_tiny_f4 [--eval-every 2] [--threads 2]

Reads --root's data/web_shards (what it learns from) and data/curated's held-out images (what
it is measured on: the share of objects the scene parser reads the same after the round trip,
every --eval-every minutes of training). Never touches the root's models/vae. Exits 0 when the
target was reached, 3 when the minutes ran out first (the VAE is written either way, its
manifest vae.json saying what it keeps); a run killed mid-way resumes from --work when run again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from components.data.curated import load_curated
from components.data.shard_layout import list_shards
from components.vae.train.recipe import resolve_vae_recipe
from components.vae.train.stage import heldout_array, load_shard_images, train_vae
from components.world import IMAGE_SIZE

NOT_REACHED = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="a materialized project")
    parser.add_argument("--preset", default="tiny_f4")
    parser.add_argument("--target", type=float, default=0.99, help="share of held-out objects kept")
    parser.add_argument("--minutes", type=float, default=90.0, help="training minutes at most")
    parser.add_argument("--eval-every", type=float, default=2.0, help="training minutes between measurements")
    parser.add_argument("--out", type=Path, required=True, help="the VAE directory to write")
    parser.add_argument("--work", type=Path, help="checkpoints while training (default: --out + _train)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = resolve_vae_recipe(
        "paper",
        {
            "preset": args.preset,
            "trainer.max_minutes": args.minutes,
            "trainer.max_steps": 10**9,  # the minutes or the target end it
            "progress_bar": False,
            "curve_every_minutes": args.eval_every,
        },
    )
    root = args.root.resolve()
    loaded = load_shard_images(list_shards(root / "data" / "web_shards"), IMAGE_SIZE, recipe.max_images)
    heldout = heldout_array(load_curated(list_shards(root / "data" / "curated"), "heldout", image_size=IMAGE_SIZE))
    print(f"{args.preset}: {len(loaded.images)} training images, {len(heldout)} held out", flush=True)
    result = train_vae(
        recipe,
        images=loaded.images,
        heldout=heldout,
        work_dir=args.work or args.out.with_name(args.out.name + "_train"),
        out_dir=args.out,
        seed=args.seed,
        stop_at_objects_kept=args.target,
    )
    for point in result.curve:
        print(f"  {point['minutes']:.1f} min, step {point['step']}: {point['objects_kept']:.3f} of objects kept")
    kept = result.report.objects_kept
    steps = result.fit.steps if result.fit else 0
    print(
        f"{args.out}: f{result.factor}, {kept:.3f} of held-out objects kept after {steps} steps (target {args.target})"
    )
    if kept < args.target:
        print(f"target {args.target} not reached in {args.minutes} minutes: rerun with more --minutes", file=sys.stderr)
        sys.exit(NOT_REACHED)


if __name__ == "__main__":
    main()
