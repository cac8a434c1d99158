"""What the generator's tests share: two small world shards, an untrained tiny autoencoder and
the real (bundled) text encoder with a short context, so every test is seconds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from components.data.build_world import build_web_shard
from components.data.profiles import resolve_profile
from components.generator.text_encoder import TextEncoder, load_text_encoder
from components.vae.model import Vae, build_vae
from components.world import WorldConfig


@pytest.fixture(scope="session")
def world_shards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Shards 00000 and 00001 of 12 world images each: name -> tar."""
    out = tmp_path_factory.mktemp("web_shards")
    profile = resolve_profile("quick", {"web_shards": 2, "web_shard_size": 12})
    tars = [build_web_shard(out, i, profile=profile, world=WorldConfig(), seed=0).tar_path for i in range(2)]
    return {tar.stem: tar for tar in tars}


def manifest_of(shards: dict[str, Path], path: Path, extra: list[tuple[str, str, str]] = ()) -> Path:
    """A mix manifest (key, shard, caption, source) over every image of the shards, plus `extra` rows."""
    from components.data.shard_reader import read_shard

    rows = [
        (sample.key, shard, sample.caption, "original")
        for shard, tar in sorted(shards.items())
        for sample in read_shard(tar, decode=False)
    ]
    rows += [(key, shard, caption, "original") for key, shard, caption in extra]
    pd.DataFrame.from_records(rows, columns=["key", "shard", "caption", "source"]).to_parquet(path)
    return path


@pytest.fixture(scope="session")
def tiny_vae() -> Vae:
    """tiny_f4 (64 x 64 -> 16 x 16 x 4), untrained, scaling factor 1."""
    torch.manual_seed(0)
    vae = build_vae("tiny_f4").eval()
    vae.register_to_config(scaling_factor=1.0)
    return vae


@pytest.fixture(scope="session")
def encoder() -> TextEncoder:
    return load_text_encoder(max_tokens=8)
