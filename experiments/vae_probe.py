"""Probe: which autoencoder keeps the shapes world's objects, as a curve over CPU minutes.

Trains one candidate on the web shards' images (batch 32, AdamW) and, every `--eval-every`
minutes, reconstructs the curated held-out images and reports PSNR and the share of objects
that the scene parser reads the same (cell, shape, colour, size) in the reconstruction as in
the original (components/vae/metrics.py). Candidates:
- kl_f4: diffusers AutoencoderKL, widths 32/64/64, 64x64 -> 16x16x4, mid-block attention
  (the issue's probe: 17% of objects after 20 minutes, 82.5% after 40);
- kl_f4_noattn: the same without the mid-block attention;
- kl_f2: widths 32/64, 64x64 -> 32x32x4 (a smaller factor: a 4x larger latent);
- tiny_f4: diffusers AutoencoderTiny (TAESD's design: no attention, no KL), 16x16x4;
- tiny_f2: AutoencoderTiny, 32x32x4.

    python experiments/vae_probe.py --candidate kl_f2 --minutes 6 --eval-every 2 [--bf16] [--lr 1e-3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from components.data.curated import load_curated
from components.data.shard_layout import list_shards
from components.data.shard_reader import read_shard
from components.vae.config import VAE_PRESETS
from components.vae.loss import vae_loss
from components.vae.metrics import reconstruction_report
from components.vae.model import build_vae, to_pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--candidate", choices=sorted(VAE_PRESETS), required=True)
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--eval-every", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--root", type=Path, default=Path("data"))
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (fast where the CPU has AMX)")
    parser.add_argument("--out", type=Path, help="append the curve as JSON lines here")
    args = parser.parse_args()
    torch.manual_seed(0)
    train = np.stack([np.array(s.image) for tar in list_shards(args.root / "web_shards") for s in read_shard(tar)])
    heldout = np.stack([i.image for i in load_curated(list_shards(args.root / "curated"), "heldout", image_size=64)])
    print(f"{len(train)} training images, {len(heldout)} held out", flush=True)
    vae = build_vae(args.candidate)
    print(f"{args.candidate}: {sum(p.numel() for p in vae.parameters()) / 1e6:.2f}M parameters", flush=True)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=0.0)
    pixels = to_pixels(train)  # (N, 3, 64, 64) in [-1, 1], channels-last in memory
    rng = np.random.default_rng(0)
    start, step, trained, next_eval = time.time(), 0, 0.0, args.eval_every
    while trained < args.minutes:
        tick = time.time()
        batch = pixels[torch.from_numpy(rng.choice(len(pixels), args.batch, replace=False))]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = vae_loss(vae, batch).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        trained += (time.time() - tick) / 60
        if trained >= next_eval or trained >= args.minutes:
            report = reconstruction_report(vae, heldout)
            row = {
                "candidate": args.candidate,
                "bf16": args.bf16,
                "lr": args.lr,
                "minutes": round(trained, 2),
                "steps": step,
                **report.as_dict(),
            }
            print(json.dumps(row), flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
            next_eval += args.eval_every
    print(f"wall {time.time() - start:.0f}s, {step} steps, {step * args.batch / (trained * 60):.1f} images/s")


if __name__ == "__main__":
    main()
