"""Captioner fine-tuning throughput: batches of one caption type grouped by length, against
mixed batches, in the same run.

    python benchmarks/captioner_batches.py --curated data/curated_shards [--steps 40] [--long-share 0.7]

Trains the `small` preset (tokenizer trained on the curated captions here) for --steps
optimiser steps with each batching scheme, after --warmup untimed steps, and prints the
curated examples per second, the long captions per second, the mean padded length per
batch, and the ratios. Both schemes train the same share of long captions; only how they
share batches differs. The model restarts from the same initial weights for each scheme.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from captioner_setup import new_captioner, small_captioner, training_arguments  # noqa: E402

from components.captioner.coca_captioner import CocaCaptioner  # noqa: E402
from components.captioner.loss import CocaLoss  # noqa: E402
from components.captioner.train.data import CaptionerDataModule, CaptionerDataSettings  # noqa: E402


def measure(model: CocaCaptioner, loss_fn: CocaLoss, loader, steps: int, warmup: int) -> dict[str, float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches = iter(loader)
    examples = long_rows = padded = 0
    start = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
            examples = long_rows = padded = 0
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        out = loss_fn(model(batch["images"], batch["tokens"], batch["attention_mask"]), batch["tokens"])
        optimizer.zero_grad(set_to_none=True)
        out.total.backward()
        optimizer.step()
        examples += batch["tokens"].shape[0]
        padded += batch["tokens"].shape[1]
        long_rows += int((batch["tokens"][:, 0] == loader.collate_fn.tokenizer.type_id("long")).sum())
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "examples_per_s": examples / seconds,
        "long_per_s": long_rows / seconds,
        "long_share": long_rows / examples,
        "mean_padded_length": padded / steps,
    }


def main() -> None:
    args = training_arguments(__doc__.splitlines()[0], steps=40)
    shards, tokenizer, config = small_captioner(args.curated)
    torch.manual_seed(0)
    initial = new_captioner(config, tokenizer).state_dict()
    loss_fn = CocaLoss(pad_token_id=config.pad_token_id)
    figures = {}
    for name, grouped in (("mixed", False), ("grouped", True)):
        data = CaptionerDataModule(
            stage="finetune",
            tokenizer=tokenizer,
            max_length=config.context_length,
            image_size=config.image_size,
            settings=CaptionerDataSettings(batch_size=args.batch, long_share=args.long_share, grouped_batches=grouped),
            curated_shards=shards,
        )
        data.setup()
        model = new_captioner(config, tokenizer)
        model.load_state_dict(initial)
        model.train()
        figures[name] = measure(model, loss_fn, data.train_dataloader(), args.steps, args.warmup)
        print(name, json.dumps({k: round(v, 3) for k, v in figures[name].items()}), flush=True)
    ratio = figures["grouped"]["examples_per_s"] / figures["mixed"]["examples_per_s"]
    long_ratio = figures["grouped"]["long_per_s"] / max(figures["mixed"]["long_per_s"], 1e-9)
    print(f"grouped / mixed: {ratio:.2f}x examples per second, {long_ratio:.2f}x long captions per second")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    **figures,
                    "ratio_examples": ratio,
                    "ratio_long": long_ratio,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
