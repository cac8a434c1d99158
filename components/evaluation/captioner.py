"""Judging a captioner on held-out images against their scene records and human captions.

Captions are written the way recaptioning writes them (nucleus sampling, top-p 0.9,
temperature 0.7, one seed per image), so the figures describe the captions that will
train the generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from components.data.shards import read_shard
from components.evaluation.caption_truth import score_captions
from components.evaluation.cider import cider_d
from components.captioner.model import CocaModel
from components.captioner.hf_backend import HFCaptioner
from components.captioner.decoding import greedy, nucleus, row_generators
from components.text.tokenizer import CaptionTokenizer
from components.captioner.train.data import CuratedItem, to_tensor
from components.world import Scene


@dataclass(frozen=True)
class DecodeSettings:
    strategy: str = "nucleus"  # nucleus | greedy
    top_p: float = 0.9
    temperature: float = 0.7
    max_new_tokens: int = 250
    batch_size: int = 64
    seed: int = 0


@torch.no_grad()
def write_captions(
    model: CocaModel | HFCaptioner, tokenizer: CaptionTokenizer, images: Sequence[np.ndarray], caption_type: str,
    settings: DecodeSettings = DecodeSettings(),
) -> list[str]:
    """One caption of `caption_type` per (H, W, 3) uint8 image."""
    model.eval()
    device = next(model.parameters()).device
    captions: list[str] = []
    for start in range(0, len(images), settings.batch_size):
        batch = torch.stack([to_tensor(i) for i in images[start : start + settings.batch_size]]).to(device)
        common = dict(start_token_id=tokenizer.type_id(caption_type), eos_token_id=tokenizer.eos_id,
                      max_new_tokens=min(settings.max_new_tokens, model.config.context_length - 1))
        # One seed per image, by its position in `images`: captions do not depend on batching.
        seeds = [settings.seed * 1_000_003 + start + i for i in range(len(batch))]
        if isinstance(model, HFCaptioner):  # the transformers backend decodes with HF generate
            out = model.generate_captions(batch, caption_type, strategy=settings.strategy, top_p=settings.top_p,
                                          temperature=settings.temperature,
                                          seeds=seeds if settings.strategy == "nucleus" else None,
                                          max_new_tokens=common["max_new_tokens"])
        elif settings.strategy == "greedy":
            out = greedy(model, batch, **common)
        elif settings.strategy == "nucleus":
            out = nucleus(model, batch, top_p=settings.top_p, temperature=settings.temperature,
                          generators=row_generators(seeds, device), **common)
        else:
            raise ValueError(f"unknown decoding strategy {settings.strategy!r}: nucleus or greedy")
        captions.extend(tokenizer.decode(seq) for seq in out.sequences)
    return captions


def score_against_truth(
    captions: Sequence[str], items: Sequence[CuratedItem], references: Sequence[str],
    tokenizer: CaptionTokenizer | None = None,
) -> dict[str, float]:
    """Truth scores against the scene records plus CIDEr-D against the human captions."""
    scenes = [Scene.from_dict(item.scene) for item in items]
    scores = score_captions(captions, scenes, tokenizer=tokenizer.text_ids if tokenizer else None).to_dict()
    keys = [item.key for item in items]
    scores["cider_d"] = cider_d(dict(zip(keys, captions)), {k: [r] for k, r in zip(keys, references)}).score
    return scores


def score_alt_text(web_shards: Sequence[Path], limit: int) -> dict[str, float]:
    """The baseline: the web images' own alt-text, judged exactly as the captioner's captions."""
    captions, scenes = [], []
    for path in web_shards:
        for sample in read_shard(path, decode=False):
            if "world_scene" not in sample.meta:
                continue
            captions.append(sample.caption)
            scenes.append(Scene.from_dict(sample.meta["world_scene"]))
            if len(captions) >= limit:
                return score_captions(captions, scenes).to_dict()
    if not captions:
        raise ValueError("no web sample carries a world_scene record to judge its alt-text against")
    return score_captions(captions, scenes).to_dict()


def evaluate_captioner(
    model: CocaModel | HFCaptioner, tokenizer: CaptionTokenizer, items: Sequence[CuratedItem],
    settings: DecodeSettings = DecodeSettings(),
) -> tuple[dict[str, float], dict[str, list[str]]]:
    """{"long/object_recall": ..., "short/cider_d": ...} and the captions written."""
    if not items or any(item.scene is None for item in items):
        raise ValueError("evaluation needs held-out items with their world_scene records")
    metrics: dict[str, float] = {}
    written: dict[str, list[str]] = {}
    for caption_type in ("long", "short"):
        captions = write_captions(model, tokenizer, [i.image for i in items], caption_type, settings)
        references = [i.long if caption_type == "long" else i.short for i in items]
        for name, value in score_against_truth(captions, items, references, tokenizer).items():
            metrics[f"{caption_type}/{name}"] = value
        written[caption_type] = captions
    return metrics, written
