"""Recaptioning throughput: a naive loop, Hugging Face-style batching, and the engine.

    python benchmarks/recaption.py [--checkpoint models/captioner] [--images 1000]
    python benchmarks/recaption.py --preset base --device cuda --dtype bfloat16   # a GPU

Same checkpoint, same images (the first --images of data/web_shards), same sampling
(nucleus, top-p 0.9, temperature 0.7, the same per-key draws), in one run:
  (a) naive:   one image and one caption type at a time; the image is encoded again for
               each caption type and the whole prefix is recomputed at every step, as
               open_clip's CoCa `generate` does;
  (b) hf:      batches of --batch images, one batched call per caption type (the image
               encoded once per call), a KV cache that grows by concatenation each step
               (transformers' default DynamicCache), top-p by sorting the whole vocabulary
               (TopPLogitsWarper), and every row carried along until the slowest row of the
               batch ends, as a plain `generate` call does; generate's per-step Python
               (logits processors, stopping criteria, input preparation) is left out, which
               only flatters it. `hf-static-cache` is the same with a preallocated cache
               (generate's cache_implementation="static"), reported beside it;
  (c) engine:  components.captioner.engine as recaption_shard runs it (the captioner's
               sample_rows: components.captioner.sampling): one encoding for both
               captions, 2 x --batch captions in flight with continuous batching (a
               finished row's slot takes the next caption), calls of 8 x --batch images.
               Variants: `engine-no-refill` (calls of --batch images whose rows leave as
               they finish, compacted at --compact), `engine-lockstep` (finished rows
               kept) and `lockstep-oracle-sorted` (lockstep over batches sorted by each
               image's true long-caption length, the best any length sorter could do)
               answer the issue's "rows leave, or sort by expected length: measure which
               is faster".
Prints images/second and generated tokens/second for each, the ratios c/a and c/b, the
mean caption lengths with their difference from the engine's (target: within 5%), and
how many captions are identical to the engine's. With --preset (a random model of that
preset instead of a checkpoint; lengths then run to the token limits), on a GPU, it also
prints the model FLOPs utilisation of the engine (FLOPs counted by torch's FlopCounterMode
on one batch, over --peak-tflops).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from components.captioner.coca_captioner import CocaCaptioner  # noqa: E402
from components.captioner.decoding import nucleus_choice  # noqa: E402
from components.captioner.engine import CaptionEngine  # noqa: E402
from components.captioner.keyed_random import key_seed, key_seeds, step_uniforms  # noqa: E402
from components.captioner.loading import load_captioner  # noqa: E402
from components.captioner.model import CocaModel  # noqa: E402
from components.captioner.sampling import SamplingSettings  # noqa: E402
from components.data.image_decode import decode_image  # noqa: E402
from components.data.shard_layout import list_shards  # noqa: E402
from components.data.shard_reader import read_shard  # noqa: E402
from components.text.tokenizer import CAPTION_TYPES, CaptionTokenizer  # noqa: E402

Result = dict[str, list[list[int]]]  # caption type -> token ids per image


def load_images(data_root: Path, n: int, size: int) -> tuple[torch.Tensor, list[str]]:
    images, keys = [], []
    for tar in list_shards(data_root / "web_shards"):
        for sample in read_shard(tar, decode=False):
            images.append(decode_image(sample.image, size)[0])
            keys.append(sample.key)
            if len(keys) == n:
                return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0, keys
    raise SystemExit(f"only {len(keys)} images under {data_root / 'web_shards'}; materialize web_shards first")


@torch.no_grad()
def naive(
    model: CocaModel, tok: CaptionTokenizer, images: torch.Tensor, keys: list[str], s: SamplingSettings
) -> Result:
    out: Result = {t: [] for t in CAPTION_TYPES}
    for i, key in enumerate(keys):
        for caption_type in CAPTION_TYPES:
            image_tokens = model.encode_image(images[i : i + 1]).tokens  # encoded again per caption type
            seed = np.array([key_seed(s.seed, key, caption_type)], dtype=np.uint64)
            prefix = [tok.type_id(caption_type)]
            for step in range(s.max_tokens(caption_type)):
                logits = model.caption_logits(image_tokens, torch.tensor([prefix], device=images.device))[:, -1]
                token = int(
                    nucleus_choice(
                        logits.float(),
                        torch.from_numpy(step_uniforms(seed, step)),
                        top_p=s.top_p,
                        temperature=s.temperature,
                    )
                )
                if token == tok.eos_id:
                    break
                prefix.append(token)
            out[caption_type].append(prefix[1:])
    return out


@torch.no_grad()
def hf_style(
    model: CocaModel,
    tok: CaptionTokenizer,
    images: torch.Tensor,
    keys: list[str],
    s: SamplingSettings,
    batch: int,
    static_cache: bool = False,
) -> Result:
    out: Result = {t: [] for t in CAPTION_TYPES}
    for start in range(0, len(keys), batch):
        chunk, chunk_keys = images[start : start + batch], keys[start : start + batch]
        for caption_type in CAPTION_TYPES:
            limit = s.max_tokens(caption_type)
            cache = model.init_cache(model.encode_image(chunk).tokens, capacity=limit if static_cache else 1)
            seeds = key_seeds(s.seed, chunk_keys, caption_type)
            fed = torch.full((len(chunk_keys), 1), tok.type_id(caption_type), device=images.device)
            rows: list[list[int]] = [[] for _ in chunk_keys]
            done = np.zeros(len(chunk_keys), dtype=bool)
            for step in range(limit):
                if step and not static_cache:  # DynamicCache: each step's keys and values are concatenated on
                    cache = cache.grown(cache.capacity + 1)
                logits, cache = model.decode_step(fed, cache)  # every row, finished or not
                chosen = nucleus_choice(
                    logits.float(),
                    torch.from_numpy(step_uniforms(seeds, step)),
                    top_p=s.top_p,
                    temperature=s.temperature,
                    candidates=logits.shape[-1],
                )  # TopPLogitsWarper sorts the vocabulary
                picked = chosen.cpu().numpy()
                for r in np.flatnonzero(~done):
                    if picked[r] == tok.eos_id:
                        done[r] = True
                    else:
                        rows[r].append(int(picked[r]))
                if done.all():
                    break
                chosen = torch.where(torch.from_numpy(done).to(chosen.device), tok.pad_id, chosen)  # padding
                fed = chosen[:, None]
            out[caption_type] += rows
    return out


def run_engine(engine: CaptionEngine, images: torch.Tensor, keys: list[str], call: int) -> Result:
    """engine.caption over calls of `call` images (recaption_shard's loader batches)."""
    out: Result = {t: [] for t in CAPTION_TYPES}
    for start in range(0, len(keys), call):
        for pair in engine.caption(images[start : start + call], keys[start : start + call]):
            out["short"].append(pair.short_ids)
            out["long"].append(pair.long_ids)
    return out


def timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def tokens_of(result: Result, s: SamplingSettings) -> int:
    """Generated tokens, <eos> included where the row wrote it."""
    return sum(len(ids) + (len(ids) < s.max_tokens(t)) for t, rows in result.items() for ids in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("models/captioner"))
    parser.add_argument("--preset", help="a random model of this CoCa preset instead of --checkpoint")
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--naive-images", type=int, default=None, help="images for (a) (default: all)")
    parser.add_argument("--batch", type=int, default=64, help="images per batch for (b) and (c)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the device's dense peak (H100 bf16: 989)")
    parser.add_argument("--compact", type=float, default=0.75, help="the engine's compact_below")
    parser.add_argument("--skip", nargs="*", default=[], choices=["naive", "hf"])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)

    if args.preset:
        tokenizer = (
            CaptionTokenizer.from_pretrained(args.checkpoint)
            if (args.checkpoint / "tokenizer.json").is_file()
            else None
        )
        if tokenizer is None:
            raise SystemExit("--preset needs a tokenizer: point --checkpoint at a captioner directory")
        torch.manual_seed(0)
        model = CocaCaptioner.from_preset(args.preset, tokenizer).eval()
    else:
        model = load_captioner(args.checkpoint)  # any backend; (a) and (b) run CoCa's decoder
        tokenizer = model.tokenizer
        if not isinstance(model, CocaCaptioner) and not {"naive", "hf"} <= set(args.skip):
            raise SystemExit(
                f"{args.checkpoint} holds a {type(model).__name__}: the baselines (a) and (b) "
                "need a CoCa captioner; run the engine alone with --skip naive hf"
            )
    model = model.to(device=device, dtype=dtype)
    settings = SamplingSettings().for_context(model.context_length)
    images, keys = load_images(args.data_root, args.images, model.image_size)
    images = images.to(device=device, dtype=dtype)
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} torch {torch.__version__}, "
        f"{args.threads} threads, device {device}, {args.dtype}; model {model.num_parameters() / 1e6:.1f}M "
        f"params ({args.preset or args.checkpoint}); {len(keys)} images; top_p {settings.top_p}, "
        f"temperature {settings.temperature}, limits {settings.max_tokens('short')}/{settings.max_tokens('long')}"
    )

    figures: dict[str, dict] = {}
    results: dict[str, Result] = {}

    def record(name: str, result: Result, seconds: float, n_images: int, extra: dict | None = None) -> None:
        tokens = tokens_of(result, settings)
        results[name] = result
        figures[name] = {
            "images": n_images,
            "seconds": seconds,
            "images_per_second": n_images / seconds,
            "tokens_per_second": tokens / seconds,
            "mean_short_tokens": float(np.mean([len(r) for r in result["short"]])),
            "mean_long_tokens": float(np.mean([len(r) for r in result["long"]])),
            **(extra or {}),
        }
        f = figures[name]
        print(
            f"{name:<20} {f['images_per_second']:9.2f} img/s {f['tokens_per_second']:10.1f} tok/s "
            f"{seconds:8.1f} s  mean tokens short {f['mean_short_tokens']:.1f} long {f['mean_long_tokens']:.1f}",
            flush=True,
        )

    # (c) as recaption_shard runs it: 2 x --batch captions in flight, calls of 8 x --batch images.
    engine = CaptionEngine(model, settings, max_rows=2 * args.batch, compact_below=args.compact)
    run_engine(engine, images[: args.batch], keys[: args.batch], args.batch)  # warm-up
    result, seconds = timed(lambda: run_engine(engine, images, keys, 8 * args.batch), device)
    record("engine", result, seconds, len(keys))
    # Without refilling: each call is one batch whose rows leave as they finish (compacted
    # at --compact), or stay until the slowest ends (lockstep).
    for name, compact in (("engine-no-refill", args.compact), ("engine-lockstep", 0.0)):
        variant = CaptionEngine(model, settings, compact_below=compact)
        result, seconds = timed(lambda variant=variant: run_engine(variant, images, keys, args.batch), device)
        record(name, result, seconds, len(keys))
    # Sorting by expected length, at its best: batches sorted by the long caption's true
    # length (known only after decoding: an oracle no real sorter beats), run in lockstep.
    order = np.argsort([len(r) for r in results["engine"]["long"]], kind="stable")
    lockstep = CaptionEngine(model, settings, compact_below=0.0)
    sorted_images, sorted_keys = images[torch.from_numpy(order).to(images.device)], [keys[i] for i in order]
    result, seconds = timed(lambda: run_engine(lockstep, sorted_images, sorted_keys, args.batch), device)
    unsort = np.argsort(order)
    record("lockstep-oracle-sorted", {t: [result[t][i] for i in unsort] for t in CAPTION_TYPES}, seconds, len(keys))
    if "hf" not in args.skip:
        result, seconds = timed(lambda: hf_style(model, tokenizer, images, keys, settings, args.batch), device)
        record("hf", result, seconds, len(keys))
        result, seconds = timed(lambda: hf_style(model, tokenizer, images, keys, settings, args.batch, True), device)
        record("hf-static-cache", result, seconds, len(keys))
    if "naive" not in args.skip:
        n = args.naive_images or len(keys)
        result, seconds = timed(lambda: naive(model, tokenizer, images[:n], keys[:n], settings), device)
        record("naive", result, seconds, n)

    base = figures["engine"]
    print()
    for name, label in (("naive", "c/a"), ("hf", "c/b"), ("hf-static-cache", "c/b'")):
        if name in figures:
            ratio = base["images_per_second"] / figures[name]["images_per_second"]
            figures[name]["engine_speedup"] = ratio
            print(
                f"{label} (engine / {name}): {ratio:.2f}x images/s, "
                f"{base['tokens_per_second'] / figures[name]['tokens_per_second']:.2f}x tokens/s"
            )
    for name, f in figures.items():
        if name == "engine":
            continue
        n = f["images"]
        same = sum(results[name][t][i] == results["engine"][t][i] for t in CAPTION_TYPES for i in range(n))
        ref_short = np.mean([len(r) for r in results["engine"]["short"][:n]])
        ref_long = np.mean([len(r) for r in results["engine"]["long"][:n]])
        d_short = f["mean_short_tokens"] / ref_short - 1
        d_long = f["mean_long_tokens"] / ref_long - 1
        ok = abs(d_short) <= 0.05 and abs(d_long) <= 0.05
        f.update(identical_captions=same / (2 * n), length_diff_short=d_short, length_diff_long=d_long)
        print(
            f"{name:<20} mean length vs engine: short {d_short:+.1%}, long {d_long:+.1%} "
            f"({'within' if ok else 'NOT within'} 5%); identical captions {same}/{2 * n}"
        )

    if device.type == "cuda":
        from torch.utils.flop_counter import FlopCounterMode

        probe = CaptionEngine(model, settings, max_rows=2 * args.batch)
        with FlopCounterMode(display=False) as counter:
            run_engine(probe, images[: args.batch], keys[: args.batch], args.batch)
        flops_per_image = counter.get_total_flops() / args.batch
        achieved = flops_per_image * base["images_per_second"]
        base["mfu"] = achieved / (args.peak_tflops * 1e12)
        print(
            f"engine: {flops_per_image / 1e9:.2f} GFLOP per image, {achieved / 1e12:.2f} TFLOP/s, "
            f"MFU {base['mfu']:.2%} of {args.peak_tflops:.0f} TFLOP/s"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
