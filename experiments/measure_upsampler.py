"""A saved local rewriter measured as the `prompt_upsampler` asset measures it, at any size
(docs/results.md "Prompt upsampling"):

    python experiments/measure_upsampler.py models/upsampler --curated data/curated \\
        --per-category 8 --diversity 32 [--keep-prompt] [--forbid-contradictions] [--json work/upsampler_measures.json]

Prints, per category of the benchmark's short prompts and for its unseen-form prompts, the
share whose first rewrite keeps the intent (before the guard), whose drawn text keeps it
(after) and the fallback rate, with Wilson intervals; then the diversity (distinct rewrites
among 4 of one prompt) and the rewrites' lengths in words beside the curated training
captions'; then the first rewrites that failed, with the reason.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from components.data.shard_layout import list_shards
from components.evaluation.upsampling import measure_upsampler
from components.io.command_line import add_rewrite_decoding_flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("upsampler", type=Path, help="a saved local rewriter (models/upsampler)")
    parser.add_argument("--curated", type=Path, default=Path("data/curated"), help="the curated shards")
    parser.add_argument("--per-category", type=int, default=8)
    parser.add_argument("--diversity", type=int, default=32, help="prompts given 4 rewrites each")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, help="also write the measures here")
    add_rewrite_decoding_flags(parser, unset="the rewriter's manifest")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    measures = measure_upsampler(
        args.upsampler,
        list_shards(args.curated),
        per_category=args.per_category,
        diversity_prompts=args.diversity,
        k=4,
        keep_prompt=args.keep_prompt,
        forbid_contradictions=args.forbid_contradictions,
    )
    print(f"{'category':<16} {'prompts':>7}  {'before the guard':<26} {'after':<26} fallbacks")
    for row in measures.intent_rows:
        print(f"{row.category:<16} {row.prompts:>7}  {row.before!s:<26} {row.after!s:<26} {row.fallbacks}")
    d = measures.diversity
    print(f"distinct rewrites among {d.k} of one prompt: {d.distinct_share:.3f} over {d.prompts} prompts")
    print("words: rewrites " + json.dumps({k: round(v, 1) for k, v in d.rewrite_words.items()}))
    print("words: training captions " + json.dumps({k: round(v, 1) for k, v in d.caption_words.items()}))
    print(f"guard: {json.dumps(measures.stats)}; {time.perf_counter() - start:.0f} s")
    for e in measures.examples:
        if e.first_failures:
            print(f"  [{e.category}] {e.prompt!r}: {e.first_failures[0]}")
    if args.json:
        args.json.write_text(json.dumps(measures.as_json(), indent=1) + "\n")


if __name__ == "__main__":
    main()
