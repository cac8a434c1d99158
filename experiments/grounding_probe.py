"""Why does the captioner not ground objects? Short, controlled fine-tuning runs.

A plain torch loop (no Lightning, no checkpoints) trains the CoCa model from scratch on the
curated set for --steps steps and judges greedy and nucleus (top-p 0.9, temperature 0.7,
each caption seeded by its image's key as held-out evaluation seeds it: heldout_captions.py)
captions of held-out images every --eval-every steps: object recall, hallucination,
background, and the held-out caption loss with each image's own encoding against a
rolled (wrong) one, the gap that says how much the decoder reads the image. Variants
differ by one setting each, so each result names its cause.

    python experiments/grounding_probe.py --curated experiments/out/work/long40/curated_3200 \
        --tokenizer-from experiments/out/work/long40/model_3200_scratch --variant base --variant no_aug
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from heldout_captions import judge_settings, write_type_captions  # experiments/, beside this script

from components.captioner.coca_captioner import CocaCaptioner
from components.captioner.config import CocaConfig
from components.captioner.loss import CocaLoss, caption_loss
from components.captioner.train.data import CaptionCollator, CaptionerDataSettings, CuratedCaptionDataset
from components.data.curated import load_curated, to_tensor
from components.evaluation.captioner import score_against_truth
from components.text.tokenizer import CaptionTokenizer
from components.training.settings import OptimizerSettings

# Each variant: model overrides, and training settings that differ from the base: CoCa's
# attentional pooler (BASE_MODEL, not the small preset's patch tokens), so that every
# variant compares against the baseline row of docs/results.md, "Longer runs, and what
# held grounding back".
BASE_MODEL = {"caption_tokens": "pooled"}
VARIANTS: dict[str, dict] = {
    "base": {},
    "no_aug": {"augment": False},
    "no_contrastive": {"contrastive_weight": 0.0},
    "patches": {"model": {"caption_tokens": "patches"}},
    "patch_stem": {"model": {"stem": "patch"}},
    "lr3e-4": {"lr": 3e-4},
    "lr3e-3": {"lr": 3e-3},
    "patch4": {"model": {"patch_size": 4, "stem_channels": 32}},
    "plain": {"augment": False, "contrastive_weight": 0.0, "model": {"caption_tokens": "patches"}},
    "patches_lr2e-3": {"lr": 2e-3, "model": {"caption_tokens": "patches"}},
    "patches_patch4": {"model": {"caption_tokens": "patches", "patch_size": 4}},  # a 16x16 grid, 256 image tokens
    "patches_stem2": {"model": {"caption_tokens": "patches", "stem_depth": 2}},  # a residual conv per stem stage
    "patches_stem3": {"model": {"caption_tokens": "patches", "stem_depth": 3}},
    "bn_stem2": {"model": {"caption_tokens": "patches", "stem_depth": 2, "stem_norm": "batch"}},
    "bn_stem2_nopost": {
        "model": {"caption_tokens": "patches", "stem_depth": 2, "stem_norm": "batch", "vision_post_norm": False}
    },
    "nopost": {"model": {"caption_tokens": "patches", "vision_post_norm": False}},
    "words": {"word_weight": 1.0, "model": {"caption_tokens": "patches", "word_head": True}},
    "words_bce": {"word_weight": 1.0, "model": {"caption_tokens": "patches", "word_head": True}},
    "words_bce_w3": {"word_weight": 3.0, "model": {"caption_tokens": "patches", "word_head": True}},
    "words_bce_bn": {
        "word_weight": 1.0,
        "model": {
            "caption_tokens": "patches",
            "word_head": True,
            "stem_depth": 2,
            "stem_norm": "batch",
            "vision_post_norm": False,
        },
    },
    "words_bn": {
        "word_weight": 1.0,
        "model": {
            "caption_tokens": "patches",
            "word_head": True,
            "stem_depth": 2,
            "stem_norm": "batch",
            "vision_post_norm": False,
        },
    },
}


def image_gap(model: CocaCaptioner, tokenizer: CaptionTokenizer, items, kind: str) -> tuple[float, float]:
    """Held-out caption loss with the right image tokens and with the next image's."""
    images = torch.stack([to_tensor(i.image) for i in items])
    texts = [i.short if kind == "short" else i.long for i in items]
    batch = tokenizer.encode_batch(texts, [kind] * len(texts), model.config.context_length)
    with torch.no_grad():
        tokens = model.encode_image(images).tokens
        losses = [
            caption_loss(model.caption_logits(t, batch.tokens), batch.tokens, model.config.pad_token_id).item()
            for t in (tokens, tokens.roll(1, 0))
        ]
    return losses[0], losses[1]


def run(variant: str, args, tokenizer: CaptionTokenizer, train_items, heldout, emit) -> None:
    spec = VARIANTS[variant]
    config = CocaConfig.from_preset(
        args.preset,
        vocab_size=tokenizer.vocab_size,
        pad_token_id=tokenizer.pad_id,
        **{**BASE_MODEL, **spec.get("model", {})},
    )
    torch.manual_seed(0)
    model = CocaCaptioner(config, tokenizer)  # CocaModel's parameters, drawn as CocaModel(config) drew them
    loss_fn = CocaLoss(
        contrastive_weight=spec.get("contrastive_weight", 1.0),
        caption_weight=2.0,
        pad_token_id=config.pad_token_id,
        word_weight=spec.get("word_weight", 0.0),
    )
    settings = OptimizerSettings(lr=spec.get("lr", 1e-3), warmup_steps=50)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, betas=settings.betas, weight_decay=settings.weight_decay
    )
    data = CuratedCaptionDataset(
        train_items, CaptionerDataSettings(long_share=args.long_share, augment=spec.get("augment", True))
    )
    loader = torch.utils.data.DataLoader(
        data, batch_size=32, shuffle=True, drop_last=True, collate_fn=CaptionCollator(tokenizer, config.context_length)
    )
    kind = "long" if args.long_share >= 0.5 else "short"
    step, start = 0, time.perf_counter()
    while step < args.steps:
        for batch in loader:
            model.train()
            for group in optimizer.param_groups:
                group["lr"] = settings.lr * settings.lr_factor(step, args.steps)
            out = loss_fn(model(batch["images"], batch["tokens"], batch["attention_mask"]), batch["tokens"])
            optimizer.zero_grad(set_to_none=True)
            out.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            if step % args.eval_every == 0 or step == args.steps:
                model.eval()
                refs = [i.short if kind == "short" else i.long for i in heldout]
                context = config.context_length
                sampled = write_type_captions(
                    model, heldout, kind, judge_settings(context, max_tokens=args.max_new_tokens)
                )  # top-p 0.9, T 0.7
                nucleus_scores = score_against_truth(sampled, heldout, refs)
                captions = write_type_captions(
                    model, heldout, kind, judge_settings(context, top_p=0.0, max_tokens=args.max_new_tokens)
                )  # greedy
                scores = score_against_truth(captions, heldout, refs)
                matched, rolled = image_gap(model, tokenizer, heldout[:64], kind)
                emit(
                    {
                        "variant": variant,
                        "step": step,
                        "minutes": round((time.perf_counter() - start) / 60, 2),
                        "train_caption": round(out.caption.item(), 4),
                        "train_word": round(out.word.item(), 4),
                        "val_matched": round(matched, 4),
                        "val_rolled": round(rolled, 4),
                        "recall": round(scores["object_recall"], 3),
                        "halluc": round(scores["hallucination_rate"], 3),
                        "background": round(scores["background_accuracy"], 3),
                        "nucleus_recall": round(nucleus_scores["object_recall"], 3),
                        "nucleus_halluc": round(nucleus_scores["hallucination_rate"], 3),
                        "sample": captions[0],
                        "truth": refs[0],
                    }
                )
            if step >= args.steps:
                break


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--curated", type=Path, required=True, help="a folder of curated shards")
    parser.add_argument("--tokenizer-from", type=Path, required=True, help="a captioner directory")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--eval-images", type=int, default=100)
    parser.add_argument("--long-share", type=float, default=0.0, help="0: short captions only (fast steps)")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("experiments/out/grounding_probe.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokenizer = CaptionTokenizer.from_pretrained(args.tokenizer_from)
    tars = sorted(args.curated.glob("*.tar"))
    train_items, heldout = load_curated(tars, "train"), load_curated(tars, "heldout")[: args.eval_images]

    def emit(record: dict) -> None:
        print(json.dumps(record), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")

    for variant in args.variant:
        run(variant, args, tokenizer, train_items, heldout, emit)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
