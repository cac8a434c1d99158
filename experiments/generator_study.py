"""The generator study: trains one generator per caption mix for the same budget and judges each
on the same prompts, as a learning curve; the equal-compute comparison of the claim
(docs/results.md "The claim") on a CPU, and its GPU run (experiments/gpu_generator_study.sh).

    python experiments/generator_study.py --root . --mix original_only --minutes 120 --eval-every 30 \\
        --out work/generator_study/study.jsonl [--unet small] [--objective v_zero_snr] [--tag NAME]

Reads a materialized project at --root (data/mix/<mix>.parquet, data/web_shards, models/vae),
caches the mix's latents and embeddings under --work (shared by reruns), trains with the
profile's recipe and the flags' overrides, and appends one JSON line per judged point (the
headline figures with their counts) and one for the final judgement. A killed run resumes from
its checkpoints when run again with the same --tag, so a long curve is a chain of segments.
`--max-steps` bounds by examples instead of minutes (equal compute across machines). The
checkpoints are kept: rerun with a larger --minutes / --max-steps (and --constant-lr throughout)
to extend a finished curve. `--set KEY=VALUE` (repeatable) overrides any recipe setting by its
dotted path (`sampling.guidance_scale=7`, `caption_dropout=0.2`, `text_encoder=/path/to/encoder`,
`eval_every_minutes=null`), the value read as JSON where it parses and as a string otherwise;
--set wins over the flags above, and an unknown setting stops the run naming it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from components.evaluation.generator_eval import eval_prompts, prompt_judge
from components.generator.text_encoder import load_text_encoder
from components.generator.train.data import build_training_set
from components.generator.train.recipe import GeneratorRecipe, resolve_generator_recipe
from components.generator.train.stage import train_generator
from components.io.hashing import directory_version
from components.vae.checkpoint import load_vae
from components.world import IMAGE_SIZE


def parse_setting(text: str) -> tuple[str, Any]:
    """ "sampling.guidance_scale=7" -> ("sampling.guidance_scale", 7): the value as JSON where it
    parses (numbers, true/false, null, lists), else the string itself (a path, a preset name)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="a materialized project")
    parser.add_argument("--mix", required=True)
    parser.add_argument("--profile", default="paper", help="the recipe the flags override")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--max-steps", type=int, default=1_000_000)
    parser.add_argument("--eval-every", type=float, help="minutes between judged points (default: the recipe's)")
    parser.add_argument("--eval-prompts", type=int, help="prompts per category (default: the recipe's)")
    parser.add_argument("--unet")
    parser.add_argument("--objective")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument(
        "--constant-lr", action="store_true", help="no cosine decay: a curve that later segments extend"
    )
    parser.add_argument("--precision", help="Lightning precision (default: auto)")
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--max-rows", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", help="names the run's work folder (default: the mix)")
    parser.add_argument("--work", type=Path, default=Path("work/generator_study"))
    parser.add_argument("--out", type=Path, required=True, help="JSON lines to append to")
    parser.add_argument("--threads", type=int, help="torch threads (parallel runs on one GPU: 1 each)")
    parser.add_argument(
        "--set",
        dest="settings",
        type=parse_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any recipe setting by its dotted path, value as JSON or a string (repeatable; wins over the flags)",
    )
    return parser


def study_recipe(args: argparse.Namespace) -> GeneratorRecipe:
    """The profile's recipe with the flags' overrides, then --set's; an unknown setting or a
    value its field refuses raises ValueError (or TypeError) naming it."""
    overrides: dict[str, Any] = {"max_minutes": args.minutes, "max_steps": args.max_steps, "progress_bar": False}
    overrides["accelerator"] = args.accelerator
    for flag, key in (
        ("eval_every", "eval_every_minutes"),
        ("eval_prompts", "eval_prompts"),
        ("unet", "unet"),
        ("objective", "objective"),
        ("batch", "batch_size"),
        ("lr", "optimizer.lr"),
        ("precision", "precision"),
        ("max_rows", "max_rows"),
    ):
        if getattr(args, flag) is not None:
            overrides[key] = getattr(args, flag)
    if args.constant_lr:
        overrides["optimizer.min_lr_ratio"] = 1.0
    overrides.update(args.settings)
    return resolve_generator_recipe(args.profile, overrides)


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    try:
        recipe = study_recipe(args)
    except (ValueError, TypeError) as error:  # an unknown setting, or a value its field refuses
        parser.error(str(error))
    if args.threads:
        torch.set_num_threads(args.threads)
    tag = args.tag or args.mix
    root = args.root.resolve()
    vae_dir = root / "models" / "vae"
    vae = load_vae(vae_dir)
    encoder = load_text_encoder(recipe.text_encoder, recipe.max_tokens)
    started = time.time()
    training_set = build_training_set(
        args.mix,
        root / "data" / "mix" / f"{args.mix}.parquet",
        {tar.stem: tar for tar in sorted((root / "data" / "web_shards").glob("*.tar"))},
        vae=vae,
        vae_version=directory_version(vae_dir),
        encoder=encoder,
        encoder_name=recipe.text_encoder,
        image_size=IMAGE_SIZE,
        cache_dir=args.work / "cache" / f"{args.mix}_{recipe.max_tokens}_{args.max_rows}",
        max_rows=recipe.max_rows,
    )
    print(f"{tag}: {training_set.info['rows']} rows cached in {time.time() - started:.0f} s", flush=True)
    result = train_generator(
        recipe,
        training_set,
        vae=vae,
        encoder=encoder,
        judge=prompt_judge(eval_prompts(recipe.eval_prompts)),
        work_dir=args.work / tag,
        out_dir=args.work / tag / "pipeline",
        seed=args.seed,
        keep_checkpoints=True,  # a later segment with a larger budget continues this curve
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as out:
        common = {
            "tag": tag,
            "mix": args.mix,
            "unet": recipe.unet,
            "objective": recipe.objective,
            "batch": recipe.batch_size,
            "rows": training_set.info["rows"],
            "settings": dict(args.settings),  # what --set changed
        }
        for point in result.curve:
            out.write(json.dumps({**common, "kind": "point", **point}) + "\n")
        out.write(
            json.dumps(
                {
                    **common,
                    "kind": "final",
                    "steps": result.fit.steps,
                    "minutes": result.fit.minutes,
                    "examples": result.fit.steps * recipe.batch_size,
                    "figures": {k: [s.passed, s.n] for k, s in result.figures.items()},
                    "summary": {k: [s.passed, s.n] for k, s in result.summary.items()},
                }
            )
            + "\n"
        )
    result.grid.save(args.work / tag / "final_samples.png")
    print(f"{tag}: " + ", ".join(f"{k} {s}" for k, s in result.figures.items()), flush=True)


if __name__ == "__main__":
    main()
