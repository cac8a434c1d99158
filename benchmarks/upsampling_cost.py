"""What prompt upsampling costs beside the generation it precedes, in one run.

    python benchmarks/upsampling_cost.py [--upsampler models/upsampler]
        [--generator models/generator/paper] [--prompts 16]

The benchmark's short prompts (the first --prompts of the suite):
  (a) rewrite:  one guarded rewrite per prompt (the local rewriter, its manifest's sampling);
  (b) generate: one image per prompt with the generator's judged sampling (its steps and guidance);
  (c) single:   one raw rewriter call per prompt (a single sample, no intent check);
  (d) unbanned: (c) with forbid_contradictions off (the manifest's other settings kept).
Prints milliseconds per prompt for each and the ratios a/b (what upsampling adds to a draw),
a/c (what the guard's retries and checks add to a single sample) and c/d (what the ban on
contradictions adds to a sample).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from components.evaluation.benchmark import benchmark_suite
from components.evaluation.benchmark_draw import draw_prompts, pipeline_sampling
from components.generator.pipeline import load_pipeline
from components.upsampling.backends import RewriterSettings, open_upsampler


def per_prompt_ms(run, prompts: list[str]) -> float:
    start = time.perf_counter()
    for prompt in prompts:
        run(prompt)
    return 1000 * (time.perf_counter() - start) / len(prompts)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--upsampler", type=Path, default=Path("models/upsampler"))
    parser.add_argument("--generator", type=Path, default=Path("models/generator/paper"))
    parser.add_argument("--prompts", type=int, default=16)
    args = parser.parse_args()
    prompts = [e.prompt for e in benchmark_suite(8, forms=("short",))][: args.prompts]
    upsampler = open_upsampler(RewriterSettings(model=str(args.upsampler), seed=0))
    unbanned = open_upsampler(RewriterSettings(model=str(args.upsampler), seed=0, forbid_contradictions=False))
    pipe, sampling = load_pipeline(args.generator), pipeline_sampling(args.generator)
    upsampler.upsample(prompts[0])  # warm-up: the first call builds the generation caches
    draw_prompts(pipe, prompts[:1], sampling=sampling)
    rewrite = per_prompt_ms(upsampler.upsample, prompts)
    single = per_prompt_ms(upsampler.rewriter, prompts)
    unbanned.rewriter(prompts[0])
    plain = per_prompt_ms(unbanned.rewriter, prompts)
    generate = per_prompt_ms(lambda p: draw_prompts(pipe, [p], sampling=sampling), prompts)
    stats = upsampler.stats.as_dict()
    print(f"machine threads {torch.get_num_threads()}, {len(prompts)} short prompts, {sampling.steps} sampling steps")
    print(
        f"(a) rewrite:  {rewrite:8.1f} ms/prompt  (guarded; {stats['attempts']} calls for {stats['prompts']} prompts)"
    )
    print(f"(b) generate: {generate:8.1f} ms/prompt")
    print(f"(c) single:   {single:8.1f} ms/prompt  (forbid_contradictions {upsampler.rewriter.forbid_contradictions})")
    print(f"(d) unbanned: {plain:8.1f} ms/prompt")
    print(f"a/b {rewrite / generate:.2f}   a/c {rewrite / single:.2f}   c/d {single / plain:.2f}")


if __name__ == "__main__":
    main()
