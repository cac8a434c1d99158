"""Probe: does judging a caption claim by claim teach the judge which colour goes with which
shape? A claim is a sentence (or a clause: sentences split at ", and", ", while", ";"); the
caption's score is its least believed claim, so one false clause sinks it, and the claim
it is names what is wrong.

Trained on (image, claim) pairs from the curated training captions: every claim of a true
caption is true; the claims that a hard negative (components/judge/perturb.py) changed are
false. Two heads over the AlignmentJudge towers:
- `itm`: the matching head (the claim's tokens cross-attend to the image tokens);
- `local`: the claim's embedding against every image token and the pooled image, the score
  being the best cosine: "is there a place in the image that looks like this claim". An
  object sits in a few patches, so a colour bound to the wrong shape has no place to match.
  `--nce` adds a contrastive term: each true claim must pick its own image out of the batch.

Judged on planted errors (held-out captions, threshold passing 95% of the true ones) and on
the quick captioner's real long captions against the world's truth (diagnosis only).

    python experiments/judge_claims_probe.py --minutes 7 --head local --unit clause --bn-stem --nce
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from components.data.augment import augment
from components.data.curated import load_curated, to_tensor
from components.data.shard_layout import list_shards
from components.data.shard_reader import read_shard
from components.evaluation.caption_truth import judge_caption
from components.judge.config import JudgeConfig
from components.judge.model import AlignmentJudge
from components.judge.perturb import PERTURBATIONS, hard_negatives, perturb
from components.judge.scoring import calibrate_threshold, sentences
from components.text.tokenizer import CaptionTokenizer
from components.world import Scene

_CLAUSE = re.compile(r"(?:,\s+(?:and|while|but|whereas)\s+|;\s+)", re.I)
CONTEXT = 48  # tokens: a claim is one sentence


def split_claims(caption: str, unit: str) -> list[str]:
    parts = sentences(caption) or [caption]
    if unit == "sentence":
        return parts
    return [c.strip() for s in parts for c in _CLAUSE.split(s) if c.strip()]


class ClaimJudge(torch.nn.Module):
    def __init__(self, config: JudgeConfig, head: str) -> None:
        super().__init__()
        self.towers, self.head = AlignmentJudge(config), head
        self.token_proj = torch.nn.Linear(config.towers.vision_width, config.towers.embed_dim)
        self.scale = torch.nn.Parameter(torch.tensor(10.0))
        self.bias = torch.nn.Parameter(torch.tensor(-5.0))

    def candidates(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, S, S) -> unit vectors (B, N + 1, E): every image token and the pooled image."""
        x = self.towers.visual(images * 2 - 1)
        return F.normalize(torch.cat([self.token_proj(x), self.towers.image_pooler(x)], dim=1), dim=-1)

    def similarities(self, images, tokens, valid) -> torch.Tensor:
        """(M, B): each claim's best cosine against each image of the batch (local head)."""
        claims, _ = self.towers.encode_text(tokens, valid)
        return torch.einsum("me,bne->mbn", claims, self.candidates(images)).max(dim=2).values

    def logits(self, images, rows, tokens, valid) -> torch.Tensor:
        """Claim m against image rows[m] -> (M,) logits."""
        if self.head == "local":
            sims = self.similarities(images, tokens, valid)
            return self.scale * sims[torch.arange(len(rows)), rows] + self.bias
        _, image_tokens = self.towers.encode_image(images)
        _, states = self.towers.encode_text(tokens, valid)
        return self.towers.match_logits(image_tokens[rows], states, valid)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=7.0)
    parser.add_argument("--head", choices=("itm", "local"), default="local")
    parser.add_argument("--unit", choices=("sentence", "clause"), default="clause")
    parser.add_argument("--bn-stem", action="store_true", help="BatchNorm conv stem of depth 2, no final norm")
    parser.add_argument("--nce", action="store_true", help="add claim -> image InfoNCE (local head)")
    parser.add_argument("--curated", type=Path, default=Path("data/curated"))
    parser.add_argument("--root", type=Path, default=Path("data"), help="web_shards and recaptioned, for real output")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    shards = list_shards(args.curated)
    train = load_curated(shards, "train", image_size=64)
    heldout = load_curated(shards, "heldout", image_size=64)
    tokenizer = CaptionTokenizer.train([t for i in train for t in (i.short, i.long)], vocab_size=1024)
    tower = dict(stem_norm="batch", stem_depth=2, vision_post_norm=False) if args.bn_stem else {}
    config = JudgeConfig.from_preset(
        "small", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id, context_length=CONTEXT, **tower
    )
    model = ClaimJudge(config, args.head)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)

    def encode(texts):
        batch = tokenizer.encode_batch(texts, "long", CONTEXT)
        return batch.tokens, batch.attention_mask

    def training_batch():
        images, rows, texts, labels = [], [], [], []
        for b in range(args.batch):
            item = train[int(rng.integers(len(train)))]
            image, captions = augment(item.image, [item.short, item.long], rng)
            images.append(to_tensor(image))
            for caption in captions:
                true = split_claims(caption, args.unit)
                false = [
                    c
                    for p in hard_negatives(caption, rng)
                    for c in split_claims(p.text, args.unit)
                    if c not in set(true)
                ]
                for claims, label in ((true, 1.0), (false, 0.0)):
                    for i in rng.permutation(len(claims))[:3]:
                        rows.append(b), texts.append(claims[i]), labels.append(label)
        return torch.stack(images), torch.tensor(rows), *encode(texts), torch.tensor(labels)

    @torch.no_grad()
    def caption_scores(images: torch.Tensor, captions: list[str]) -> np.ndarray:
        """The least believed claim's probability, per caption."""
        model.eval()
        owner = [i for i, c in enumerate(captions) for _ in split_claims(c, args.unit)]
        claims = [c for caption in captions for c in split_claims(caption, args.unit)]
        scores = []
        for start in range(0, len(claims), 512):
            rows = torch.tensor(owner[start : start + 512])
            logits = model.logits(images[rows], torch.arange(len(rows)), *encode(claims[start : start + 512]))
            scores.append(torch.sigmoid(logits))
        model.train()
        out = np.ones(len(captions))
        np.minimum.at(out, np.array(owner), torch.cat(scores).numpy())
        return out

    def planted() -> tuple[float, dict[str, float]]:
        prng = np.random.default_rng(1)
        images, captions, kinds, truth = [], [], [], []
        for item in heldout:
            image = to_tensor(item.image)
            for caption in (item.short, item.long):
                own = len(captions)
                images.append(image), captions.append(caption), kinds.append("true"), truth.append(own)
                for kind in PERTURBATIONS:
                    if (p := perturb(caption, kind, prng)) is not None:
                        images.append(image), captions.append(p.text), kinds.append(kind), truth.append(own)
        scores, kinds_a = caption_scores(torch.stack(images), captions), np.array(kinds)
        threshold = calibrate_threshold(scores[kinds_a == "true"], 0.95)
        below = scores < scores[np.array(truth)]
        figures = {k: round(float((scores[kinds_a == k] < threshold).mean()), 3) for k in PERTURBATIONS}
        figures |= {f"{k}_below_true": round(float(below[kinds_a == k].mean()), 3) for k in PERTURBATIONS[:4]}
        return threshold, figures

    def real_output(threshold: float, limit: int = 1500) -> dict[str, float | int]:
        samples = {s.key: s for tar in list_shards(args.root / "web_shards")[:2] for s in read_shard(tar)}
        rows = pd.concat([pd.read_parquet(p) for p in sorted((args.root / "recaptioned").glob("*.parquet"))])
        rows = rows[(rows.status == "ok") & rows.key.isin(list(samples))].head(limit)
        images = torch.stack([to_tensor(np.array(samples[k].image)) for k in rows.key])
        rejected = caption_scores(images, rows.long_caption.tolist()) < threshold
        judged = [
            judge_caption(c, Scene.from_dict(samples[k].meta["world_scene"]))
            for c, k in zip(rows.long_caption, rows.key, strict=True)
        ]
        hallucinating = np.array([j.hallucinated for j in judged])
        true = np.array([j.wholly_true for j in judged])
        return {
            "captions": len(rows),
            "hallucinating": round(float(hallucinating.mean()), 3),
            "caught": round(float(rejected[hallucinating].mean()), 3),
            "kept_of_true": round(float((~rejected[true]).mean()), 3),
            "kept_hallucinating": round(float(hallucinating[~rejected].mean()), 3),
        }

    start, step, last_eval = time.time(), 0, time.time()
    while time.time() - start < args.minutes * 60:
        images, rows, tokens, valid, labels = training_batch()
        nce = torch.zeros(())
        if args.head == "local":
            sims = model.similarities(images, tokens, valid)  # (M, B)
            logits = model.scale * sims[torch.arange(len(rows)), rows] + model.bias
            if args.nce:
                nce = F.cross_entropy(model.scale * sims[labels > 0], rows[labels > 0])
        else:
            logits = model.logits(images, rows, tokens, valid)
        weights = torch.where(labels > 0, 0.5 / labels.sum(), 0.5 / (1 - labels).sum())  # classes weighted equally
        loss = (F.binary_cross_entropy_with_logits(logits, labels, reduction="none") * weights).sum() + nce
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        if step % 50 == 0:
            accuracy = ((logits > 0).float() == labels).float().mean()
            print(
                f"step {step} {time.time() - start:.0f}s loss {loss.item():.3f} nce {nce.item():.3f} acc {accuracy:.3f}"
            )
        if time.time() - last_eval > 120:
            print(json.dumps({"step": step, "examples": step * args.batch, **planted()[1]}), flush=True)
            last_eval = time.time()
    threshold, figures = planted()
    print(json.dumps({"final_step": step, "threshold": round(threshold, 4), **figures}))
    print(json.dumps(real_output(threshold)))


if __name__ == "__main__":
    main()
