"""The evaluation report for any generator pipelines, at any size: each drawn into the benchmark
with fixed seeds and scored (components/evaluation/evaluate_pipeline.py), then reported side by
side with preference rates against the reference (docs/results.md "Evaluation").

    python experiments/evaluate_generators.py original_only=models/generator/original_only \\
        paper=models/generator/paper --per-category 8 --real 512 --out work/eval_full

With `--upsampler DIR` (a saved local rewriter, e.g. models/upsampler) the short and
unseen-form prompts are also drawn as it rewrites them (forms short_upsampled and
unseen_upsampled, judged by the prompts' own clauses; the same seeded rewrites for every
generator): what prompt upsampling buys each generator (docs/results.md "Prompt upsampling").

Name each pipeline by its mix (`original_only`, `paper`, `descriptive_50`, ...) for the paper's
number to stand beside it; the reference is `original_only` unless `--reference` names another.
Writes OUT/<name>/benchmark/ (GenEval's layout), OUT/<name>/scores.json, OUT/report.txt,
report.json and chart.png, and prints the report and each generator's category table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from components.evaluation.benchmark_table import clause_table, result_table
from components.evaluation.evaluate_pipeline import evaluate_pipelines
from components.evaluation.report import REFERENCE, build_report, write_report
from components.io.command_line import add_rewrite_decoding_flags, labelled_path
from components.upsampling.backends import RewriterSettings, open_upsampler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipelines", nargs="+", type=labelled_path, help="NAME=PIPELINE_DIR, one per generator")
    parser.add_argument("--per-category", type=int, default=8, help="prompts per category, in each form")
    parser.add_argument("--samples", type=int, default=1, help="samples per prompt")
    parser.add_argument("--real", type=int, default=512, help="held-out world images for FID and KID")
    parser.add_argument("--judge", type=Path, default=Path("models/alignment"), help="the alignment judge")
    parser.add_argument("--reference", default=REFERENCE)
    parser.add_argument("--upsampler", type=Path, help="a saved local rewriter: also draw the prompts it rewrites")
    add_rewrite_decoding_flags(parser, unset="the rewriter's manifest")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, required=True, help="a folder that does not exist yet")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"--out {args.out} exists: choose a new folder")
    torch.set_num_threads(args.threads)
    settings = RewriterSettings(
        model=str(args.upsampler),
        seed=0,
        keep_prompt=args.keep_prompt,
        forbid_contradictions=args.forbid_contradictions,
    )
    upsampler = None if args.upsampler is None else lambda: open_upsampler(settings)
    paths = dict(args.pipelines)
    scored = []
    for evaluated in evaluate_pipelines(
        args.pipelines,
        args.out,
        args.judge,
        per_category=args.per_category,
        samples_per_prompt=args.samples,
        real_images=args.real,
        upsampler=upsampler,
    ):
        name = evaluated.scores.name
        if evaluated.upsampling is not None:
            print(f"== {name}: upsampling {json.dumps(evaluated.upsampling)}", flush=True)
        print(
            f"== {name} ({paths[name]})\n{result_table(evaluated.result)}\n{clause_table(evaluated.result)}\n",
            flush=True,
        )
        scored.append(evaluated.scores)
    print(write_report(build_report(scored, reference=args.reference), args.out))


if __name__ == "__main__":
    main()
