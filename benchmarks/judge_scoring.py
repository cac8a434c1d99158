"""Scoring throughput of the alignment judge beside the captioner's captioning, in one run, so
that filtering never becomes the slow stage.

    python benchmarks/judge_scoring.py [--judge models/alignment] [--captioner models/captioner] [--images 512]

The first --images of data/web_shards, each with its alt-text as the caption to score:
  (a) engine:  the captioner writes a short and a long caption per image (recaptioning);
  (b) match:   the judge's matching head scores (image, caption) pairs;
  (c) cosine:  the judge's dual encoder scores the same pairs.
Prints captions per second for (a), pairs per second for (b) and (c), and the ratios b/a and
c/a (filtering scores three captions per image and regenerates only the failing long ones).
Then filtering's own pattern, three captions of each image scored by the matching head:
  (d) per caption set: `score` once per set, the images encoded each time;
  (e) encoded once:    `encode_images` once, `score_encoded` per set (what the filter does);
and the speedup e/d.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from components.captioner.engine import CaptionEngine
from components.captioner.loading import load_captioner
from components.data.image_decode import decode_image
from components.data.shard_layout import list_shards
from components.data.shard_reader import read_shard
from components.judge.checkpoint import load_judge
from components.judge.scoring import AlignmentJudgeScorer


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--judge", type=Path, default=Path("models/alignment"))
    parser.add_argument("--captioner", type=Path, default=Path("models/captioner"))
    parser.add_argument("--web-shards", type=Path, default=Path("data/web_shards"))
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    scorer, _ = load_judge(args.judge)
    samples = [s for tar in list_shards(args.web_shards) for s in read_shard(tar, decode=False)][: args.images]
    size = scorer.image_size
    images = torch.stack(
        [torch.from_numpy(np.array(decode_image(s.image, size)[0])).permute(2, 0, 1).float() / 255 for s in samples]
    )
    captions = [s.caption or "an image" for s in samples]
    captioner = load_captioner(args.captioner)
    engine = CaptionEngine(captioner, max_rows=2 * args.batch)
    start = time.perf_counter()
    for i in range(0, len(samples), args.batch):
        engine.caption(images[i : i + args.batch], [s.key for s in samples[i : i + args.batch]])
    engine_rate = 2 * len(samples) / (time.perf_counter() - start)
    rates = {}
    for kind in ("match", "cosine"):
        judge = AlignmentJudgeScorer(scorer.judge, scorer.tokenizer, kind, batch_size=256)
        start = time.perf_counter()
        judge.score(images, captions)
        rates[kind] = len(samples) / (time.perf_counter() - start)
    print(f"machine threads {torch.get_num_threads()}, {len(samples)} images of side {size}")
    print(f"(a) engine:  {engine_rate:8.1f} captions/s")
    for label, kind in (("(b) match: ", "match"), ("(c) cosine:", "cosine")):
        print(f"{label} {rates[kind]:8.1f} pairs/s   ratio to (a) {rates[kind] / engine_rate:6.2f}")
    judge = AlignmentJudgeScorer(scorer.judge, scorer.tokenizer, "match", batch_size=256)
    caption_sets = [captions, [c.upper() for c in captions], [f"{c}. {c}" for c in captions]]
    start = time.perf_counter()
    per_set = [judge.score(images, texts) for texts in caption_sets]
    per_set_rate = 3 * len(samples) / (time.perf_counter() - start)
    start = time.perf_counter()
    features = judge.encode_images(images)
    once = [judge.score_encoded(features, texts) for texts in caption_sets]
    once_rate = 3 * len(samples) / (time.perf_counter() - start)
    same = all(torch.allclose(a, b, atol=1e-4) for a, b in zip(per_set, once, strict=True))
    print(f"(d) per caption set: {per_set_rate:8.1f} pairs/s")
    speedup = once_rate / per_set_rate
    print(f"(e) encoded once:    {once_rate:8.1f} pairs/s   speedup e/d {speedup:5.2f}  same scores {same}")


if __name__ == "__main__":
    main()
