"""Probe: how many steps a generator needs to draw the prompted one of two colours, and which
objective gets there (the known answer of tests/generator/test_known_answer.py, as a curve).

Trains an autoencoder of `--vae` on 1,000 single large red or blue objects on white (bf16
channels-last where the CPU has AMX, `--vae-steps` steps), or loads `--vae-dir`; then a `tiny`
U-Net with `--objective` on 1,000 more (captions "a red circle", ...), constant rate `--lr`,
batch 32; every `--every` steps samples 10 prompts per colour (DDIM 20, guidance 4 and 7, the
objective's rescale) and prints how many drew the prompted colour and the share of white pixels.

    python experiments/two_colour_probe.py --vae tiny_f4 --objective v_zero_snr --steps 600
    python experiments/two_colour_probe.py --vae-dir models/vae --objective epsilon --steps 300
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

from components.generator.model import build_unet
from components.generator.objective import OBJECTIVES
from components.generator.pipeline import assemble_pipeline, generate, sampling_scheduler
from components.generator.text_encoder import load_text_encoder
from components.generator.train.data import TrainingSet, encode_latents
from components.generator.train.module import GeneratorData, GeneratorModule, LatentCaptions
from components.training.fit import fit
from components.training.settings import OptimizerSettings, TrainerSettings
from components.vae.checkpoint import load_vae
from components.vae.model import build_vae, latent_scaling_factor, to_pixels
from components.vae.train.module import ImageArray, VaeData, VaeModule
from components.vae.train.recipe import VaeRecipe
from components.world.palette import BACKGROUNDS, SHAPES
from tests.generator.test_known_answer import TWO_COLOURS, drawn_colour, two_colour_world


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--vae", default="tiny_f4", help="preset trained here")
    parser.add_argument("--vae-dir", help="a trained VAE directory instead")
    parser.add_argument("--vae-steps", type=int, default=150)
    parser.add_argument("--objective", default="v_zero_snr", choices=sorted(OBJECTIVES))
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("work/two_colour_probe"))
    args = parser.parse_args()
    start = time.time()
    if args.vae_dir:
        vae = load_vae(args.vae_dir)
    else:
        images, _ = two_colour_world(1000)
        torch.manual_seed(0)
        vae = build_vae(args.vae)
        module = VaeModule(vae, VaeRecipe().optimizer, total_steps=args.vae_steps, kl_weight=0.0)
        settings = TrainerSettings(max_steps=args.vae_steps, progress_bar=False, checkpoint_every_n_steps=10**6)
        data = VaeData(ImageArray(images), batch_size=32)
        fit(module, data, settings, args.work / "vae", validate=False, cpu_bf16_ready=True, resume=False)
        vae.to(memory_format=torch.contiguous_format).eval()  # pyright: ignore[reportCallIssue]
        vae.register_to_config(scaling_factor=latent_scaling_factor(vae, to_pixels(images[:256])))
    print(f"autoencoder ready after {time.time() - start:.0f} s", flush=True)
    encoder = load_text_encoder(max_tokens=8)
    images, captions = two_colour_world(1000, seed=1)
    latents = encode_latents(vae, images)
    rows = TrainingSet(latents, encoder.encode(captions).astype(np.float16), encoder.encode([""])[0], captions, {})
    objective = OBJECTIVES[args.objective]
    torch.manual_seed(0)
    unet = build_unet("tiny", sample_size=latents.shape[-1], latent_channels=latents.shape[1], cross_attention_dim=384)
    optimizer = OptimizerSettings(lr=args.lr, weight_decay=0.01, betas=(0.9, 0.999), warmup_steps=20, min_lr_ratio=1.0)
    module = GeneratorModule(unet, objective, optimizer, empty_caption=rows.empty, total_steps=args.steps)

    class Probe(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if trainer.global_step % args.every:
                return
            scheduler = sampling_scheduler("ddim", dict(objective.scheduler().config))
            pipe = assemble_pipeline(vae, encoder, pl_module.ema, scheduler)
            report = []
            for guidance in (4.0, 7.0):
                for colour in TWO_COLOURS:
                    prompts = [f"a {colour} {shape}" for shape in SHAPES] * 3
                    drawn = generate(
                        pipe,
                        prompts[:10],
                        seed=0,
                        steps=20,
                        guidance_scale=guidance,
                        guidance_rescale=objective.guidance_rescale,
                    )
                    white = float((np.abs(drawn.astype(float) - BACKGROUNDS["white"]).sum(-1) <= 90).mean())
                    hits = [drawn_colour(image) for image in drawn].count(colour)
                    report.append(f"g{guidance:g} {colour} {hits}/10 white {white:.2f}")
            print(f"step {trainer.global_step} ({time.time() - start:.0f} s): " + "; ".join(report), flush=True)

    settings = TrainerSettings(max_steps=args.steps, progress_bar=False, checkpoint_every_n_steps=10**6)
    data = GeneratorData(LatentCaptions(rows), batch_size=32)
    fit(module, data, settings, args.work / "generator", validate=False, resume=False, callbacks=[Probe()])


if __name__ == "__main__":
    main()
