"""The generator study: trains one generator per caption mix for the same budget and judges each
on the same prompts, as a learning curve; the equal-compute comparison of the claim
(docs/results.md "The claim") on a CPU, and its GPU run (experiments/gpu_generator_study.sh).

    python experiments/generator_study.py --root . --mix original_only --minutes 120 --eval-every 30 \\
        --out work/generator_study/study.jsonl [--unet small] [--objective v_zero_snr] [--tag NAME] \\
        [--vae DIR] [--set KEY=VALUE ...] [--judge-guidance 7 10]

Reads a materialized project at --root (data/mix/<mix>.parquet, data/web_shards, models/vae or
the VAE at --vae), caches the mix's latents and embeddings under --work (one folder per VAE and
text encoder, shared by reruns), trains with the profile's recipe and the flags' overrides, and
appends one JSON line per judged point (the headline figures with their counts) and one for the
final judgement (with the segment's measured cost: steps, minutes inside training batches, and
the U-Net's GFLOPs per training sample). A killed run resumes from its checkpoints when run
again with the same --tag, so a long curve is a chain of segments. `--max-steps` bounds by
examples instead of minutes (equal compute across machines). The checkpoints are kept: rerun
with a larger --minutes / --max-steps (and --constant-lr throughout) to extend a finished curve.
`--set KEY=VALUE` (repeatable) overrides any recipe setting by its dotted path
(`sampling.guidance_scale=7`, `caption_dropout=0.2`, `text_encoder=/path/to/encoder`,
`eval_every_minutes=null`), the value read as JSON where it parses and as a string otherwise;
--set wins over the flags above, and an unknown setting stops the run naming it.
`--judge-guidance` judges the final weights again at other guidance scales (one more `final`
row each, its `curve` named "<tag> guidance <scale>"): guidance as a curve without retraining.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import runpy
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import torch

from components.evaluation.generator_eval import eval_prompts, prompt_judge
from components.generator.objective import resolve_objective
from components.generator.pipeline import load_pipeline
from components.generator.text_encoder import load_text_encoder
from components.generator.train.data import build_training_set
from components.generator.train.recipe import GeneratorRecipe, resolve_generator_recipe
from components.generator.train.stage import sampler, train_generator
from components.io.command_line import setting
from components.io.hashing import directory_version
from components.vae.checkpoint import MANIFEST as VAE_MANIFEST
from components.vae.checkpoint import load_vae
from components.world import IMAGE_SIZE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="a materialized project")
    parser.add_argument("--vae", type=Path, help="a trained VAE directory (default: the root's models/vae)")
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
        type=setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any recipe setting by its dotted path, value as JSON, YAML or a string (repeatable; wins over the flags)",
    )
    parser.add_argument(
        "--judge-guidance",
        type=float,
        nargs="*",
        default=[],
        metavar="SCALE",
        help="also judge the final weights at these guidance scales (a `final` row each, curve '<tag> guidance S')",
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


class StepClock(L.Callback):
    """This segment's trained steps and the seconds spent inside training batches: the measured
    cost of a step, apart from judging and setup."""

    def __init__(self) -> None:
        self.first_step: int | None = None
        self.steps, self.seconds, self._batch_start = 0, 0.0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.first_step is None:  # after a resume restored the step count
            self.first_step = trainer.global_step
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seconds += time.perf_counter() - self._batch_start
        self.steps = trainer.global_step - (self.first_step or 0)


def cache_name(mix: str, recipe: GeneratorRecipe, vae_version: str) -> str:
    """The cache folder of a mix's latents and embeddings: one per VAE and encoder, so runs of
    different candidates neither rebuild nor overwrite each other's (the cache's own fingerprint
    still decides whether a folder is current)."""
    inputs = hashlib.sha256(f"{vae_version}\0{recipe.text_encoder}".encode()).hexdigest()[:8]
    return f"{mix}_{recipe.max_tokens}_{recipe.max_rows}_{inputs}"


def vae_objects_kept(vae_dir: Path) -> float | None:
    """The held-out objects a trained VAE keeps, from its manifest (None without one)."""
    manifest = vae_dir / VAE_MANIFEST
    return json.loads(manifest.read_text())["report"]["objects_kept"] if manifest.is_file() else None


def training_gflops(unet: str, latent: list[int], context: int, width: int) -> float:
    """GFLOPs of one training sample's forward and backward pass (experiments/generator_flops.py,
    loaded by path: experiments/ is no package)."""
    flops = runpy.run_path(str(Path(__file__).with_name("generator_flops.py")))["training_flops_per_sample"]
    return flops(unet, latent[-1], context, width) / 1e9


def judged(figures: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "figures": {k: [s.passed, s.n] for k, s in figures.items()},
        "summary": {k: [s.passed, s.n] for k, s in summary.items()},
    }


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
    vae_dir = (args.vae or root / "models" / "vae").resolve()
    vae, vae_version = load_vae(vae_dir), directory_version(vae_dir)
    encoder = load_text_encoder(recipe.text_encoder, recipe.max_tokens)
    started = time.time()
    training_set = build_training_set(
        args.mix,
        root / "data" / "mix" / f"{args.mix}.parquet",
        {tar.stem: tar for tar in sorted((root / "data" / "web_shards").glob("*.tar"))},
        vae=vae,
        vae_version=vae_version,
        encoder=encoder,
        encoder_name=recipe.text_encoder,
        image_size=IMAGE_SIZE,
        cache_dir=args.work / "cache" / cache_name(args.mix, recipe, vae_version),
        max_rows=recipe.max_rows,
    )
    print(f"{tag}: {training_set.info['rows']} rows cached in {time.time() - started:.0f} s", flush=True)
    clock = StepClock()
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
        callbacks=[clock],
    )
    latent = [int(n) for n in training_set.latents.shape[1:]]  # (C, h, w)
    common = {
        "tag": tag,
        "curve": tag,
        "mix": args.mix,
        "unet": recipe.unet,
        "objective": recipe.objective,
        "batch": recipe.batch_size,
        "rows": training_set.info["rows"],
        "settings": dict(args.settings),  # what --set changed
        "latent": latent,
        "vae": {"dir": str(vae_dir), "version": vae_version, "objects_kept": vae_objects_kept(vae_dir)},
        "text_encoder": recipe.text_encoder,
        "caption_dropout": recipe.caption_dropout,
        "guidance_scale": recipe.sampling.guidance_scale,
    }
    final = {
        "kind": "final",
        "steps": result.fit.steps,
        "minutes": result.fit.minutes,
        "examples": result.fit.steps * recipe.batch_size,
        # the cost of a step, measured: this segment's steps and its minutes inside training
        # batches (not the judging, not the setup)
        "segment_steps": clock.steps,
        "segment_train_minutes": round(clock.seconds / 60, 4),
        "gflops_per_sample": round(training_gflops(recipe.unet, latent, recipe.max_tokens, encoder.width), 4),
    }
    rows = [{**common, "kind": "point", **point} for point in result.curve]
    rows.append({**common, **final, **judged(result.figures, result.summary)})
    for scale in args.judge_guidance:  # the same weights sampled at other guidance scales
        resampled = replace(recipe, sampling=replace(recipe.sampling, guidance_scale=scale))
        pipe = load_pipeline(args.work / tag / "pipeline")
        again = prompt_judge(eval_prompts(recipe.eval_prompts))(
            sampler(pipe, resampled, resolve_objective(recipe.objective), seed=args.seed)
        )
        curve = f"{tag} guidance {scale:g}"
        rows.append(
            {**common, "curve": curve, "guidance_scale": scale, **final, **judged(again.figures, again.summary)}
        )
        print(f"{curve}: " + ", ".join(f"{k} {s}" for k, s in again.figures.items()), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)
    result.grid.save(args.work / tag / "final_samples.png")
    print(f"{tag}: " + ", ".join(f"{k} {s}" for k, s in result.figures.items()), flush=True)


if __name__ == "__main__":
    main()
