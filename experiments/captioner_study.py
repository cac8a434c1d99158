"""The captioner study of issue 3: held-out quality against curated-set size, training
minutes and pretraining. Appends one JSON line per evaluation.

    python experiments/captioner_study.py --out experiments/out/captioner_study.jsonl

Every run fine-tunes for --finetune-minutes (the quick recipe's budget) and is judged on
--eval-images held-out curated images at each --eval-every minutes (long captions, nucleus
top-p 0.9, temperature 0.7: the recaptioning setting) and fully at the end (both caption
types, by the fine-tuning stage). The minute marks count time inside training batches
(components/training/minute_curve.py) and judging time is given back to the budget, so
minutes are training minutes. Captions are sampled as held-out evaluation samples them, each seeded by
the run's --seed and its image's key, up to 250 tokens of either type (heldout_captions.py).
Pretraining (CoCa, and captioning-only for the ablation) runs once on the profile's web
shards and is shared.

`--profile paper` runs the paper recipe (its steps; minutes only as a cap) on the paper
profile's 50 web shards and `--heldout` held-out images; `--runs 5000:coca 800:scratch`
names (curated size, initialisation) pairs instead of every size with every init.
Several studies can share one `--data` folder (built once with `--build-only`) and one
pretrained model: `--wait-pretrained` waits for another process's pretraining instead of
repeating it. `--accelerator gpu --workers 2` trains on a GPU with image loading in workers.

`--keep-every N` (or `--keep-steps 4000 8000`) keeps the captioner of each fine-tuning run after
every N optimiser steps (or at those steps) as a loadable captioner directory,
WORK/kept_SIZE_INIT/step_NNNNNN (components/captioner/train/kept.py): captioners of rising
quality from one run, for experiments/captioner_quality_mixes.py. A run stopped mid-way
(`timeout`, Ctrl-C or a kill) resumes from its last checkpoint (--checkpoint-every) when started
again with the same arguments, so the paper recipe can run as a chain of segments; steps kept
by an earlier segment are not written again.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import cast

import lightning as L
import torch
from heldout_captions import judge_settings, write_type_captions  # experiments/, beside this script
from lightning.pytorch.callbacks import Timer

from components.captioner.checkpoint import CONFIG_FILE
from components.captioner.config import CocaConfig
from components.captioner.interface import Captioner
from components.captioner.sampling import SamplingSettings
from components.captioner.train.kept import KeepCaptioners
from components.captioner.train.recipe import CaptionerRecipe, resolve_recipe
from components.captioner.train.stage import finetune, pretrain
from components.data.build_world import build_curated_shard, build_web_shard
from components.data.curated import CuratedItem, load_curated
from components.data.profiles import resolve_profile
from components.data.shard_layout import shard_name
from components.evaluation.captioner import evaluate_captioner, score_against_truth
from components.io.command_line import setting
from components.training.minute_curve import MinuteCurve
from components.world import WorldConfig


class MinuteEval(MinuteCurve):
    """Judges long captions of held-out images every `every` minutes of training (the curve's
    minutes: time inside training batches, kept across a resume), appending one record each.

    The judging is not training: its time is also given back to the trainer's Timer, so the
    stage's max_minutes budget and time_fraction (which the schedule and the short-first
    curriculum anneal by) count training alone."""

    def __init__(self, items: list[CuratedItem], emit, run: dict, every: float = 1.0, seed: int = 0) -> None:
        super().__init__(every)
        self.items, self.emit, self.run, self.seed = items, emit, run, seed

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        model = cast(Captioner, pl_module.model)  # the CaptionerModule's captioner
        settings = judge_settings(model.context_length, seed=self.seed)
        captions = write_type_captions(model, self.items, "long", settings)  # restores training mode
        scores = score_against_truth(captions, self.items, [i.long for i in self.items])
        return {f"long/{name}": scores[name] for name in ("object_recall", "hallucination_rate", "cider_d")}

    def add_point(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        start = time.perf_counter()
        point = super().add_point(trainer, pl_module)
        give_back(trainer, time.perf_counter() - start)
        figures = {k: v for k, v in point.items() if k.startswith("long/")}
        self.emit({**self.run, "minute": round(point["minutes"], 2), "step": point["step"], **figures})
        return point


def give_back(trainer: L.Trainer, seconds: float) -> None:
    """Takes `seconds` off the training time the trainer's Timer has counted, through its
    public checkpoint state: the Timer counts (now - its start) + an offset (the elapsed time
    of the runs it resumed), and load_state_dict sets that offset."""
    for timer in (c for c in trainer.callbacks if isinstance(c, Timer)):  # pyright: ignore[reportAttributeAccessIssue]
        started = timer.start_time("train")
        if started is None:
            continue
        offset = timer.time_elapsed("train") - (time.monotonic() - started)
        timer.load_state_dict({"time_elapsed": {"train": offset - seconds}})


def parse_runs(args: argparse.Namespace) -> list[tuple[int, str]]:
    """(curated size, init) pairs: --runs when given, else every size with every init, the
    caption-only ablation at size 800 only."""
    if args.runs:
        runs = []
        for item in args.runs:
            size, _, init = item.partition(":")
            if init not in ("scratch", "coca", "caption_only") or not size.isdigit():
                raise SystemExit(f"--runs {item!r}: SIZE:INIT with INIT scratch, coca or caption_only")
            runs.append((int(size), init))
        return runs
    return [(size, init) for size in args.sizes for init in args.inits if init in ("scratch", "coca") or size == 800]


def build_data(args: argparse.Namespace, sizes: list[int]) -> tuple[list[Path], dict[int, list[Path]]]:
    """The profile's web shards and one curated shard per size (size + --heldout images), built
    in --build-jobs processes; shards already in --data are kept (same seed, same bytes)."""
    world = WorldConfig()
    web_profile = resolve_profile(args.profile)
    web_dir = args.data / "web"
    jobs = [(build_web_shard, web_dir, i, web_profile) for i in range(web_profile.web_shards)]
    curated_dirs = {}
    for size in sizes:
        profile = resolve_profile(
            args.profile,
            {"curated_train": size, "curated_heldout": args.heldout, "curated_shard_size": size + args.heldout},
        )
        curated_dirs[size] = args.data / f"curated_{size}"
        jobs.append((build_curated_shard, curated_dirs[size], 0, profile))
    todo = [job for job in jobs if not (job[1] / f"{shard_name(job[2])}.parquet").exists()]
    with ProcessPoolExecutor(max(1, args.build_jobs)) as pool:
        for future in [
            pool.submit(fn, out, index, profile=profile, world=world, seed=0) for fn, out, index, profile in todo
        ]:
            future.result()
    web = sorted(web_dir.glob("*.tar"))[: web_profile.web_shards]
    return web, {size: [d / f"{shard_name(0)}.tar"] for size, d in curated_dirs.items()}


def study_recipe(args: argparse.Namespace, overrides: dict) -> CaptionerRecipe:
    """The profile's recipe with the study's budgets, then --set's overrides, then this
    machine's settings (--accelerator, --precision, --workers, --checkpoint-every, no progress
    bar) in every stage the recipe has."""
    if args.profile == "quick":  # minutes are the budget; steps only a ceiling
        budget = {
            "pretrain": {"max_minutes": args.pretrain_minutes, "max_steps": 100000},
            "finetune.max_minutes": args.finetune_minutes,
            "finetune.max_steps": 100000,
        }
    else:  # the recipe's steps; minutes a cap that keeps a lent machine's time. The paper recipe
        # has no pretraining stage; the ablation's is 6,000 steps at 1e-3 (docs/results.md,
        # "The paper scale on a lent GPU").
        budget = {
            "pretrain": {"max_minutes": args.pretrain_minutes, "max_steps": 6000, "lr": 1e-3, "warmup_steps": 200},
            "finetune.max_minutes": args.finetune_minutes,
        }
    recipe = resolve_recipe(args.profile, {**budget, **overrides})
    settings = {
        "progress_bar": False,
        "accelerator": args.accelerator,
        "precision": args.precision,
        "checkpoint_every_n_steps": args.checkpoint_every,
        "num_workers": args.workers,
    }
    machine = {
        f"{stage}.{key}": value
        for stage in ("pretrain", "finetune")
        if getattr(recipe, stage) is not None
        for key, value in settings.items()
    }
    return resolve_recipe(args.profile, {**budget, **overrides, **machine})


def final_sampling(recipe: CaptionerRecipe, init_dir: Path | None) -> SamplingSettings:
    """The final judging's settings: nucleus 0.9 / 0.7 (its seed is replaced by the run's), up
    to 250 tokens of either type within the captioner's context (a transformers model's is not
    known before loading: the library's limits then)."""
    if recipe.hf_model is not None:
        return SamplingSettings()
    if init_dir is not None:  # a pretrained CoCa, perhaps another study's
        context = CocaConfig.from_json((init_dir / CONFIG_FILE).read_text()).context_length
    else:
        context = CocaConfig.from_preset(recipe.preset, **recipe.model_overrides).context_length
    return judge_settings(context)


def keeping(args: argparse.Namespace, recipe: CaptionerRecipe, size: int, init: str) -> list[KeepCaptioners]:
    """The callback that keeps this run's captioner at --keep-every / --keep-steps, if asked."""
    if args.keep_every is None and not args.keep_steps:
        return []
    extra = {"recipe": recipe.to_dict(), "seed": args.seed, "tag": args.tag, "curated_train": size, "init": init}
    return [
        KeepCaptioners(args.work / f"kept_{size}_{init}", every=args.keep_every, steps=args.keep_steps, extra=extra)
    ]


def wait_for(model_dir: Path, minutes: float) -> Path:
    deadline = time.monotonic() + minutes * 60
    while not (model_dir / CONFIG_FILE).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no pretrained model at {model_dir} after {minutes} minutes")
        time.sleep(5)
    return model_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("experiments/out/captioner_study.jsonl"))
    parser.add_argument("--work", type=Path, default=Path("experiments/out/work"))
    parser.add_argument("--data", type=Path, default=None, help="where the shards are built (default: --work)")
    parser.add_argument(
        "--profile",
        choices=["quick", "paper"],
        default="quick",
        help="the web shards and captioner recipe (paper: the recipe's steps, minutes as a cap)",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 800, 3200])
    parser.add_argument("--inits", nargs="+", default=["scratch", "coca", "caption_only"])
    parser.add_argument(
        "--runs",
        nargs="+",
        default=None,
        metavar="SIZE:INIT",
        help="(curated size, init) pairs to run, instead of --sizes x --inits",
    )
    parser.add_argument("--heldout", type=int, default=200, help="held-out curated images per size")
    parser.add_argument("--pretrain-minutes", type=float, default=3.0)
    parser.add_argument("--finetune-minutes", type=float, default=8.0, help="the quick recipe's budget")
    parser.add_argument("--eval-images", type=int, default=100, help="held-out images judged along the way")
    parser.add_argument("--final-eval-images", type=int, default=200, help="held-out images judged at the end")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-every", type=float, default=1.0, help="minutes between held-out judgements")
    parser.add_argument(
        "--seed", type=int, default=0, help="the training seed (initialisation, batch order, augmentation)"
    )
    parser.add_argument("--tag", default="", help="names this variant in the records and its work folder")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        type=setting,
        metavar="KEY=VALUE",
        help='a recipe override, e.g. finetune.lr=2e-3 or model_overrides={"caption_tokens": "patches"}',
    )
    parser.add_argument("--accelerator", default="cpu", help="Lightning's accelerator: cpu, gpu or auto")
    parser.add_argument(
        "--precision",
        default="auto",
        help="Lightning's precision; auto: bf16-mixed on a CPU with AMX, else 32-true (runs before "
        "commit b3bccac trained in 32-true)",
    )
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="steps between resumable checkpoints")
    parser.add_argument(
        "--keep-every", type=int, default=None, metavar="N", help="keep the captioner every N fine-tuning steps"
    )
    parser.add_argument(
        "--keep-steps", type=int, nargs="+", default=[], metavar="STEP", help="keep the captioner at these steps"
    )
    parser.add_argument("--build-jobs", type=int, default=1, help="processes that build the shards")
    parser.add_argument("--build-only", action="store_true", help="build the shards, then stop")
    parser.add_argument(
        "--wait-pretrained",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="wait up to MINUTES for another process to write the pretrained model",
    )
    args = parser.parse_args()
    overrides = dict(args.set)
    args.data = args.data or args.work
    if args.tag:
        args.work = args.work / args.tag
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = True  # a GPU's fp32 matrix products in TF32; no effect on a CPU
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def log(record: dict) -> None:
        print(json.dumps(record), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")

    runs = parse_runs(args)
    # The pretraining tokenizer also reads the curated training captions: 800 of them on quick
    # (as the quick profile), the profile's own count on paper.
    tokenizer_size = 800 if args.profile == "quick" else resolve_profile(args.profile).curated_train
    web, curated_by_size = build_data(args, sorted({size for size, _ in runs} | {tokenizer_size}))
    if args.build_only:
        return
    recipe = study_recipe(args, overrides)
    pretrained = {}
    for init in sorted({init for _, init in runs} - {"scratch"}):
        model_dir = args.data / f"model_pre_{init}_{args.profile}_s{args.seed}"
        if (model_dir / CONFIG_FILE).exists():  # made by an earlier study or another process
            pretrained[init] = model_dir
            continue
        if args.wait_pretrained:
            pretrained[init] = wait_for(model_dir, args.wait_pretrained)
            continue
        stage = replace(recipe.pretrain, contrastive_weight=1.0 if init == "coca" else 0.0)
        start = time.perf_counter()
        result = pretrain(
            replace(recipe, pretrain=stage),
            web_shards=web,
            curated_shards=curated_by_size[tokenizer_size],
            work_dir=args.work / f"pre_{init}",
            out_dir=model_dir,
            seed=args.seed,
        )
        log(
            {
                "event": "pretrain",
                "init": init,
                "tag": args.tag,
                "profile": args.profile,
                "steps": result.fit.steps,
                "minutes": result.fit.minutes,
                "wall_minutes": (time.perf_counter() - start) / 60,
                "web_images": len(web) * resolve_profile(args.profile).web_shard_size,
            }
        )
        pretrained[init] = result.model_dir

    for size, init in runs:
        heldout = load_curated(curated_by_size[size], "heldout")[: args.eval_images]
        run = {
            "event": "eval",
            "size": size,
            "init": init,
            "tag": args.tag,
            "seed": args.seed,
            "profile": args.profile,
            "overrides": overrides,
        }
        result = finetune(
            replace(recipe, eval_images=args.final_eval_images),
            init_dir=pretrained.get(init),
            curated_shards=curated_by_size[size],
            web_shards=web,
            work_dir=args.work / f"ft_{size}_{init}",
            out_dir=args.work / f"model_{size}_{init}",
            seed=args.seed,
            evaluate=partial(
                evaluate_captioner, settings=replace(final_sampling(recipe, pretrained.get(init)), seed=args.seed)
            ),
            callbacks=[MinuteEval(heldout, log, run, args.eval_every, args.seed), *keeping(args, recipe, size, init)],
        )
        log(
            {
                **run,
                "event": "final",
                "steps": result.fit.steps,
                "minutes": result.fit.minutes,
                "precision": result.fit.precision,
                "eval_images": len(result.keys),
                **{k: v for k, v in result.metrics.items()},
            }
        )


if __name__ == "__main__":
    main()
