"""The captioner study of issue 3: held-out quality against curated-set size, training
minutes and pretraining, on this machine's CPU. Appends one JSON line per evaluation.

    python experiments/captioner_study.py --out experiments/out/captioner_study.jsonl

Every run fine-tunes for --finetune-minutes (the quick recipe's budget) and is judged on
--eval-images held-out curated images at each whole minute (long captions, nucleus top-p
0.9, temperature 0.7: the recaptioning setting) and fully at the end; judging time is given back to the budget, so minutes are training
minutes. Pretraining (CoCa,
and captioning-only for the ablation) runs once on the quick web shards and is shared.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.trainer.states import RunningStage
import torch

from components.data.build_world import build_curated_shard, build_web_shard
from components.data.profiles import resolve_profile
from components.training.captioner_data import load_curated
from components.training.captioner_eval import DecodeSettings, evaluate_captioner, write_captions, score_against_truth
from components.training.captioner_pipeline import finetune, pretrain
from components.training.captioner_recipe import resolve_recipe
from components.world import WorldConfig


class MinuteEval(L.Callback):
    """Judges long captions of held-out images each time another whole minute has passed."""

    def __init__(self, items, emit, run: dict, every: float = 1.0) -> None:
        self.items, self.emit, self.run, self.every = items, emit, run, every
        self.start = None
        self.next_minute = every

    def on_train_batch_end(self, trainer, module, *args) -> None:
        self.start = self.start or time.perf_counter()
        minutes = (time.perf_counter() - self.start) / 60
        if minutes < self.next_minute:
            return
        self.next_minute += self.every
        eval_start = time.perf_counter()
        tokenizer = trainer.datamodule.collate.tokenizer
        captions = write_captions(module.model, tokenizer, [i.image for i in self.items], "long", DecodeSettings())
        module.model.train()
        scores = score_against_truth(captions, self.items, [i.long for i in self.items])
        # The judging is not training: give its time back to the run's budget and minute marks.
        spent = time.perf_counter() - eval_start
        self.start += spent
        for callback in trainer.callbacks:
            if isinstance(callback, Timer) and callback._start_time.get(RunningStage.TRAINING) is not None:
                callback._start_time[RunningStage.TRAINING] += spent
        self.emit({**self.run, "minute": round(minutes, 2), "step": trainer.global_step,
                  "long/object_recall": scores["object_recall"], "long/hallucination_rate": scores["hallucination_rate"],
                  "long/cider_d": scores["cider_d"]})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("experiments/out/captioner_study.jsonl"))
    parser.add_argument("--work", type=Path, default=Path("experiments/out/work"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 800, 3200])
    parser.add_argument("--inits", nargs="+", default=["scratch", "coca", "caption_only"])
    parser.add_argument("--pretrain-minutes", type=float, default=3.0)
    parser.add_argument("--finetune-minutes", type=float, default=8.0, help="the quick recipe's budget")
    parser.add_argument("--eval-images", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-every", type=float, default=1.0, help="minutes between held-out judgements")
    parser.add_argument("--seed", type=int, default=0, help="the training seed (initialisation, batch order, augmentation)")
    parser.add_argument("--tag", default="", help="names this variant in the records and its work folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help='a recipe override, e.g. finetune.lr=2e-3 or model_overrides={"caption_tokens": "patches"}')
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    if args.tag:
        args.work = args.work / args.tag
    torch.set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def log(record: dict) -> None:
        print(json.dumps(record), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")

    world = WorldConfig()
    web_profile = resolve_profile("quick")
    web = [build_web_shard(args.work / "web", i, profile=web_profile, world=world, seed=0).tar_path
           for i in range(web_profile.web_shards)]
    recipe = resolve_recipe("quick", **{"pretrain": {"max_minutes": args.pretrain_minutes, "max_steps": 100000},
                                        "finetune.max_minutes": args.finetune_minutes, "finetune.max_steps": 100000,
                                        **overrides})
    curated_by_size = {}
    for size in args.sizes:
        profile = resolve_profile("quick", {"curated_train": size, "curated_heldout": 200,
                                            "curated_shard_size": size + 200})
        curated_by_size[size] = [build_curated_shard(args.work / f"curated_{size}", 0, profile=profile,
                                                     world=world, seed=0).tar_path]
    pretrained = {}
    for init in args.inits:
        if init == "scratch":
            continue
        if (args.work / f"model_pre_{init}").is_dir():  # made by an earlier, interrupted study
            pretrained[init] = args.work / f"model_pre_{init}"
            continue
        stage = replace(recipe.pretrain, contrastive_weight=1.0 if init == "coca" else 0.0)
        start = time.perf_counter()
        result = pretrain(replace(recipe, pretrain=stage), web_shards=web, curated_shards=curated_by_size[800],
                          work_dir=args.work / f"pre_{init}", out_dir=args.work / f"model_pre_{init}",
                          seed=args.seed, trainer_kwargs={"progress_bar": False})
        log({"event": "pretrain", "init": init, "tag": args.tag, "steps": result.fit.steps, "minutes": result.fit.minutes,
             "wall_minutes": (time.perf_counter() - start) / 60})
        pretrained[init] = result.model_dir

    import components.training.captioner_train as train_module
    for size in args.sizes:
        heldout = load_curated(curated_by_size[size], "heldout")[: args.eval_images]
        for init in args.inits:
            if init != "scratch" and size != 800 and init != "coca":
                continue  # the caption-only ablation runs at the quick size only
            run = {"event": "eval", "size": size, "init": init, "tag": args.tag, "seed": args.seed, "overrides": overrides}
            original = train_module.L.Trainer

            def trainer_with(*a, callbacks=(), **kw):
                return original(*a, callbacks=[*callbacks, MinuteEval(heldout, log, run, args.eval_every)], **kw)

            train_module.L.Trainer = trainer_with
            try:
                result = finetune(replace(recipe, eval_images=200), init_dir=pretrained.get(init),
                                  curated_shards=curated_by_size[size], web_shards=web,
                                  work_dir=args.work / f"ft_{size}_{init}", out_dir=args.work / f"model_{size}_{init}",
                                  seed=args.seed, trainer_kwargs={"progress_bar": False})
            finally:
                train_module.L.Trainer = original
            log({**run, "event": "final", "steps": result.fit.steps, "minutes": result.fit.minutes,
                 **{k: v for k, v in result.metrics.items()}})


if __name__ == "__main__":
    main()
