"""The generator's training step against diffusers' example script's step, same U-Net and batch,
in one run; and sampling throughput beside it.

    python benchmarks/train_step.py [--unet tiny] [--batch 32] [--steps 8] [--vae models/vae]

- baseline: the step of diffusers' examples/text_to_image/train_text_to_image.py, written anew:
  every step encodes its images with the VAE (`latent_dist.sample()`, or AutoencoderTiny's
  latents) and its captions with the frozen text encoder, both under no_grad, then noises the
  latents, runs the U-Net and steps AdamW; fp32, NCHW (the script's defaults).
- ours: GeneratorModule's step on the cached latents and embeddings of components/generator/
  training_set.py: only the U-Net runs; fp32, channels-last (faster than bf16 autocast here).
- sampling: images per second of the exported pipeline at the default sampling settings
  (DDIM, 30 steps, guidance 4, batch 32).
Prints samples/s per variant and the ratio to the baseline. Without --vae, an untrained
tiny_f2 autoencoder stands in (the cost of a step does not depend on its weights).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from components.generator.model import build_unet
from components.generator.objective import OBJECTIVES
from components.generator.pipeline import assemble_pipeline, generate, sampling_scheduler
from components.generator.text_encoder import load_text_encoder
from components.generator.train.data import encode_latents
from components.generator.train.module import GeneratorModule
from components.training.settings import OptimizerSettings
from components.vae.checkpoint import load_vae
from components.vae.model import build_vae, encode, to_pixels
from components.world import describe_scene, render, sample_scene

WARMUP = 2


def diffusers_script_step_rate(unet, vae, encoder, images: np.ndarray, captions: list[str], steps: int) -> float:
    """Samples/s of train_text_to_image.py's loop body (epsilon target, uniform timesteps)."""
    scheduler = OBJECTIVES["epsilon"].scheduler()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    scale = float(vae.config["scaling_factor"])
    for step in range(WARMUP + steps):
        if step == WARMUP:
            start = time.perf_counter()
        pixels = to_pixels(images).contiguous()
        with torch.no_grad():
            latents = encode(vae, pixels, sample=True) * scale
            tokens = encoder.tokenizer(  # pyright: ignore[reportCallIssue]
                captions, padding="max_length", max_length=encoder.max_tokens, truncation=True, return_tensors="pt"
            )
            context = encoder.model(tokens["input_ids"], attention_mask=tokens["attention_mask"])[0]
        noise = torch.randn_like(latents)
        t = torch.randint(0, scheduler.config["num_train_timesteps"], (len(latents),))
        noisy = scheduler.add_noise(latents, noise, t)  # pyright: ignore[reportArgumentType]
        prediction = unet(noisy, t, encoder_hidden_states=context).sample
        loss = torch.nn.functional.mse_loss(prediction.float(), noise.float())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return steps * len(images) / (time.perf_counter() - start)


def our_step_rate(unet, latents: np.ndarray, embeddings: np.ndarray, empty: np.ndarray, steps: int) -> float:
    module = GeneratorModule(unet, OBJECTIVES["epsilon"], OptimizerSettings(), empty_caption=empty, total_steps=10**6)
    optimizer = torch.optim.AdamW(module.unet.parameters(), lr=1e-4)
    for step in range(WARMUP + steps):
        if step == WARMUP:
            start = time.perf_counter()
        batch = torch.from_numpy(latents.astype(np.float32)), torch.from_numpy(embeddings.astype(np.float32))
        loss = module.forward_loss(*batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        module.update_ema()
    return steps * len(latents) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--unet", default="tiny")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--vae", help="a trained VAE directory (default: an untrained tiny_f2)")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    vae = load_vae(args.vae) if args.vae else build_vae("tiny_f2").eval()
    if not args.vae:
        vae.register_to_config(scaling_factor=1.0)
    encoder = load_text_encoder(max_tokens=args.max_tokens)
    rng = np.random.default_rng(0)
    scenes = [sample_scene(rng) for _ in range(args.batch)]
    images = np.stack([render(s) for s in scenes])
    captions = [describe_scene(s, rng).descriptive for s in scenes]
    latents = encode_latents(vae, images)
    embeddings = encoder.encode(captions).astype(np.float16)
    latent_size, channels = latents.shape[-1], latents.shape[1]
    print(
        f"U-Net {args.unet}, batch {args.batch}, latents {latents.shape[1:]}, context {embeddings.shape[1:]}, "
        f"{torch.get_num_threads()} threads"
    )

    def fresh_unet():
        torch.manual_seed(0)
        return build_unet(
            args.unet, sample_size=latent_size, latent_channels=channels, cross_attention_dim=encoder.width
        )

    baseline = diffusers_script_step_rate(fresh_unet(), vae, encoder, images, captions, args.steps)
    print(f"{'diffusers script step':28s} {baseline:7.1f} samples/s  1.00x")
    ours = our_step_rate(fresh_unet(), latents, embeddings, encoder.encode([""])[0], args.steps)
    print(f"{'recap step (cached inputs)':28s} {ours:7.1f} samples/s  {ours / baseline:.2f}x")
    unet = fresh_unet().eval()
    pipe = assemble_pipeline(
        vae, encoder, unet, sampling_scheduler("ddim", dict(OBJECTIVES["epsilon"].scheduler().config))
    )
    generate(pipe, captions[:2], steps=2)  # warm-up
    start = time.perf_counter()
    generate(pipe, captions, steps=30, guidance_scale=4.0)
    rate = len(captions) / (time.perf_counter() - start)
    print(f"{'sampling (DDIM 30, CFG 4)':28s} {rate:7.2f} images/s")


if __name__ == "__main__":
    main()
