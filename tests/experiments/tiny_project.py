"""A tiny materialized project for the experiments' commands: one web shard of 8 world images,
a mix manifest per named mix (every image with its alt text), an untrained `tiny_f4`
autoencoder and an untrained tiny alignment judge; seconds to build, nothing trained."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from components.data.build_world import build_web_shard
from components.data.profiles import resolve_profile
from components.judge.checkpoint import save_judge
from components.judge.config import JudgeConfig
from components.judge.model import AlignmentJudge
from components.text.tokenizer import CaptionTokenizer
from components.vae.model import build_vae
from components.world import WorldConfig
from tests.generator.conftest import manifest_of


def tiny_project(root: Path, mixes: Sequence[str]) -> Path:
    """root/data/web_shards/00000.tar, root/data/mix/<mix>.parquet for each of `mixes`,
    root/models/vae and root/models/alignment."""
    profile = resolve_profile("quick", {"web_shards": 1, "web_shard_size": 8})
    tar = build_web_shard(root / "data" / "web_shards", 0, profile=profile, world=WorldConfig(), seed=0).tar_path
    (root / "data" / "mix").mkdir(parents=True)
    for mix in mixes:
        manifest_of({"00000": tar}, root / "data" / "mix" / f"{mix}.parquet")
    torch.manual_seed(0)
    vae = build_vae("tiny_f4").eval()
    vae.register_to_config(scaling_factor=1.0)
    vae.save_pretrained(root / "models" / "vae")
    tokenizer = CaptionTokenizer.train(["a red circle on a gray background."], vocab_size=300)
    config = JudgeConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    manifest = {"score_kind": "cosine", "threshold": 0.5}
    save_judge(root / "models" / "alignment", AlignmentJudge(config).eval(), tokenizer, manifest, overwrite=False)
    return root
