"""Captioner training step in bf16 autocast against fp32, in the same run, on this machine.

    python benchmarks/captioner_precision.py --curated data/curated_shards [--steps 30] [--long-share 0.7]

Trains the `small` preset (tokenizer trained on the curated captions here) for --steps
optimiser steps in each precision, after --warmup untimed steps, on the same batches from
the same initial weights, and prints seconds per step, examples per second and the ratio.
`bf16` is what Lightning's `bf16-mixed` runs: fp32 weights and optimiser, the forward pass
under torch.autocast(bfloat16); `bf16, attention bf16` also keeps the attention kernels in
bf16 (components.captioner.model.attend upcasts them in a training pass; the scheme patches
that module's `attend`, which its attention layers call), to show why it does.
On a CPU without AMX bf16 is emulated and slower; the ratio says so.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from captioner_setup import new_captioner, small_captioner, training_arguments  # noqa: E402

from components.captioner import model as coca  # noqa: E402
from components.captioner.coca_captioner import CocaCaptioner  # noqa: E402
from components.captioner.loss import CocaLoss  # noqa: E402
from components.captioner.train.data import CaptionerDataModule, CaptionerDataSettings  # noqa: E402
from components.training.precision import cpu_has_bf16_matmul  # noqa: E402

SCHEMES = {  # name -> (autocast to bf16, keep attention in bf16)
    "fp32": (False, False),
    "bf16": (True, False),
    "bf16, attention bf16": (True, True),
}


def measure(model: CocaCaptioner, loss_fn: CocaLoss, batches: list[dict], warmup: int, bf16: bool) -> dict[str, float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    start, examples, losses = 0.0, 0, []
    for step, batch in enumerate(batches):
        if step == warmup:
            start, examples = time.perf_counter(), 0
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = loss_fn(model(batch["images"], batch["tokens"], batch["attention_mask"]), batch["tokens"])
        optimizer.zero_grad(set_to_none=True)
        out.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        examples += batch["tokens"].shape[0]
        losses.append(out.caption.item())
    seconds = time.perf_counter() - start
    timed = len(batches) - warmup
    return {"s_per_step": seconds / timed, "examples_per_s": examples / seconds, "last_caption_loss": losses[-1]}


def main() -> None:
    args = training_arguments(__doc__.splitlines()[0], steps=30)
    shards, tokenizer, config = small_captioner(args.curated)
    data = CaptionerDataModule(
        stage="finetune",
        tokenizer=tokenizer,
        max_length=config.context_length,
        image_size=config.image_size,
        settings=CaptionerDataSettings(batch_size=args.batch, long_share=args.long_share),
        curated_shards=shards,
    )
    data.setup()
    batches = []  # the same batches for every scheme, over as many epochs as it takes
    while len(batches) < args.warmup + args.steps:
        batches.extend(data.train_dataloader())
    batches = batches[: args.warmup + args.steps]
    torch.manual_seed(0)
    initial = new_captioner(config, tokenizer).state_dict()
    loss_fn = CocaLoss(pad_token_id=config.pad_token_id)
    print(f"AMX bf16 matrix units: {cpu_has_bf16_matmul()}; torch {torch.__version__}; {args.threads} threads")
    figures = {}
    for name, (bf16, attention_bf16) in SCHEMES.items():
        model = new_captioner(config, tokenizer)
        model.load_state_dict(initial)
        model.train()
        raw = (
            mock.patch.object(coca, "attend", F.scaled_dot_product_attention)
            if attention_bf16
            else contextlib.nullcontext()
        )
        with raw:
            figures[name] = measure(model, loss_fn, batches, args.warmup, bf16)
        print(name, json.dumps({k: round(v, 3) for k, v in figures[name].items()}), flush=True)
    for name in ("bf16", "bf16, attention bf16"):
        print(
            f"{name} / fp32: {figures[name]['examples_per_s'] / figures['fp32']['examples_per_s']:.2f}x "
            "examples per second"
        )
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, **figures}, indent=2))


if __name__ == "__main__":
    main()
