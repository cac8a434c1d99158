"""What the captioner training benchmarks share: their command-line options and the
`small` preset with a tokenizer trained on the curated captions they read, built as the
pipeline builds it (a CocaCaptioner holding its tokenizer)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from components.captioner.coca_captioner import CocaCaptioner
from components.captioner.config import CocaConfig
from components.data.curated import load_curated
from components.data.shard_layout import list_shards
from components.text.tokenizer import CaptionTokenizer


def training_arguments(description: str, steps: int) -> argparse.Namespace:
    """Parses the options every captioner training benchmark takes; sets torch's threads."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--curated", type=Path, default=Path("data/curated_shards"))
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--long-share", type=float, default=0.7)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def small_captioner(curated: Path) -> tuple[list[Path], CaptionTokenizer, CocaConfig]:
    """The curated shards under `curated`, a BPE over their training captions, and the
    `small` preset sized to it."""
    shards = list_shards(curated)
    train = load_curated(shards, "train")
    tokenizer = CaptionTokenizer.train([t for i in train for t in (i.short, i.long)], vocab_size=2048)
    config = CocaConfig.from_preset("small", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    return shards, tokenizer, config


def new_captioner(config: CocaConfig, tokenizer: CaptionTokenizer) -> CocaCaptioner:
    """A captioner of `config` holding `tokenizer`, initialised from torch's current RNG state
    (the same weights CocaModel(config) would draw: CocaCaptioner adds no parameters)."""
    return CocaCaptioner(config, tokenizer)
