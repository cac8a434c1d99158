"""Judge exported generators on one wider prompt suite and compare each with a baseline image by
image: the claim's figures with intervals narrow enough to read (docs/results.md "The claim").

    python experiments/judge_generators.py alt=work/claim/original_only/pipeline \\
        paper=work/claim/paper/pipeline oracle=work/claim/oracle/pipeline \\
        --prompts 32 --baseline alt --out work/generator_study/judged.jsonl

Every pipeline draws the same prompts (`--prompts` per category, single object, two objects,
spatial, counting, short and long forms) with the same seeds (image i's noise from seed + i),
so the verdicts pair up: beside each figure's share and Wilson interval the table gives each
generator's paired difference from the baseline and McNemar's exact p-value
(components/evaluation/paired.py). The suite's seed defaults to one that the training curves'
judged points (evaluation.generator_eval.EVAL_SEED) do not use, so these prompts are held out from
every decision taken on the curves. Sampling follows each pipeline's manifest (its guidance
rescale) with DDIM at `--steps` and `--guidance`, as the training-time judgement does.
Appends one JSON line per pipeline (its training steps, every figure and clause share, and the
paired comparisons): experiments/plot_claim_curve.py draws them on the claim's curve.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from components.evaluation.generator_eval import full_summary, headline_passes, judge_generator
from components.evaluation.paired import compare_paired
from components.evaluation.prompts import prompt_suite
from components.generator.pipeline import generate, load_pipeline
from components.generator.train.recipe import EVAL_CATEGORIES
from components.generator.train.stage import MANIFEST, default_rescale, generator_manifest
from components.io.command_line import labelled_path

HELD_OUT_SEED = 4321  # not evaluation.generator_eval.EVAL_SEED: prompts no curve has been judged on


def judge_pipeline(path: Path, prompts, *, steps: int, guidance: float, seed: int, device: str = "cpu"):
    pipe = load_pipeline(path, scheduler="ddim").to(device)  # the noise stays CPU-seeded: same images anywhere
    rescale = default_rescale(path)

    def sample(texts: list[str]):
        return generate(pipe, texts, seed=seed, steps=steps, guidance_scale=guidance, guidance_rescale=rescale)

    judgements, _ = judge_generator(sample, prompts)
    return judgements


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipelines", nargs="+", type=labelled_path, help="LABEL=PIPELINE_DIR, one per generator")
    parser.add_argument("--prompts", type=int, default=32, help="prompts per category")
    parser.add_argument("--prompt-seed", type=int, default=HELD_OUT_SEED)
    parser.add_argument("--seed", type=int, default=0, help="the sampling noise's seed")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--baseline", help="the label every other generator is compared with (default: the first)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", type=Path, help="JSON lines to append to")
    args = parser.parse_args(argv)
    labels = [label for label, _ in args.pipelines]
    if len(set(labels)) != len(labels):
        parser.error(f"labels must differ, got {labels}")
    baseline = args.baseline or labels[0]
    if baseline not in labels:
        parser.error(f"--baseline {baseline!r} is none of the labels {labels}")
    if args.threads:
        torch.set_num_threads(args.threads)

    prompts = prompt_suite(args.prompts, seed=args.prompt_seed, categories=EVAL_CATEGORIES)
    judged = {
        label: judge_pipeline(
            path, prompts, steps=args.steps, guidance=args.guidance, seed=args.seed, device=args.device
        )
        for label, path in args.pipelines
    }
    passes = {label: headline_passes(j) for label, j in judged.items()}
    figures = list(passes[baseline])
    summaries = {label: full_summary(j) for label, j in judged.items()}  # holds the headline shares too
    against = {  # each generator but the baseline, figure by figure
        label: {name: compare_paired(passes[label][name], passes[baseline][name]) for name in figures}
        for label in labels
        if label != baseline
    }

    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as out:
            for label, path in args.pipelines:
                row = {
                    "label": label,
                    "path": str(path),
                    "trained_steps": generator_manifest(path)["steps"] if (path / MANIFEST).is_file() else None,
                    "prompts_per_category": args.prompts,
                    "prompt_seed": args.prompt_seed,
                    "seed": args.seed,
                    "steps": args.steps,
                    "guidance": args.guidance,
                    "device": args.device,
                    "baseline": baseline,
                    "summary": {k: [s.passed, s.n] for k, s in summaries[label].items()},
                    "against_baseline": {
                        name: {"only_this": c.only_a, "only_baseline": c.only_b, "both": c.both, "p_value": c.p_value}
                        for name, c in against.get(label, {}).items()
                    },
                }
                out.write(json.dumps(row) + "\n")

    print(f"| figure | {' | '.join(labels)} |")
    print(f"|---|{'---:|' * len(labels)}")
    for name in figures:
        cells = []
        for label in labels:
            share = summaries[label][name]
            lo, hi = share.interval
            cell = f"{share.passed}/{share.n} [{lo:.2f}, {hi:.2f}]"
            if label in against:
                c = against[label][name]
                cell += f", {c.difference:+.2f} p={c.p_value:.2g}"
            cells.append(cell)
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
