"""The autoencoder's training step: images per second in each memory layout and precision,
in one run, against the plain baseline (fp32, NCHW as torch.stack makes batches).

    python benchmarks/vae_step.py [--preset tiny_f2] [--batch 32] [--steps 10]

Each variant trains a fresh autoencoder of the preset on one fixed batch of world renders
(AdamW, the vae_loss the asset uses) for `--steps` timed steps after 3 warm-up steps:
  fp32 NCHW (the baseline), fp32 channels-last, bf16 NCHW, bf16 channels-last (what
  VaeModule runs: weights and batches channels-last, bf16 autocast where the CPU has AMX).
Prints images/s per variant and its ratio to the baseline.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from components.vae.loss import vae_loss
from components.vae.model import build_vae, to_pixels
from components.world import render, sample_scene


def images_per_second(preset: str, pixels: torch.Tensor, *, bf16: bool, channels_last: bool, steps: int) -> float:
    torch.manual_seed(0)
    vae = build_vae(preset)
    if channels_last:
        vae = vae.to(memory_format=torch.channels_last)
        pixels = pixels.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=1e-3)
    for step in range(3 + steps):
        if step == 3:
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = vae_loss(vae, pixels).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * len(pixels) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--preset", default="tiny_f2")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = np.stack([render(sample_scene(rng)) for _ in range(args.batch)])
    pixels = to_pixels(images).contiguous()  # NCHW, as torch.stack makes batches
    print(f"{args.preset}, batch {args.batch}, {torch.get_num_threads()} threads")
    baseline = None
    for bf16 in (False, True):
        for channels_last in (False, True):
            rate = images_per_second(args.preset, pixels, bf16=bf16, channels_last=channels_last, steps=args.steps)
            baseline = baseline or rate
            name = f"{'bf16' if bf16 else 'fp32'} {'channels-last' if channels_last else 'NCHW'}"
            print(f"{name:22s} {rate:7.1f} images/s  {rate / baseline:.2f}x")


if __name__ == "__main__":
    main()
