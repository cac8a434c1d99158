"""A caption mix made ready for the denoiser: each manifest row's image as scaled VAE latents and
its caption as the frozen text encoder's token embeddings, both computed once and cached on disk
(work/generator/<mix>/cache/), so a training step runs only the U-Net (benchmarks/train_step.py
measures what that buys against encoding inside every step, as diffusers' script does).

The cache is keyed by a fingerprint of what it was computed from (the manifest's bytes, the
VAE's version, the encoder and its context length): anything else and it is rebuilt.
A manifest row whose key is missing from its shard, or whose image does not decode, is counted
and skipped; a mix left with no rows stops with an error naming it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from components.data.image_decode import decode_image
from components.data.shard_reader import ReadStats, read_shard
from components.generator.text_encoder import TextEncoder
from components.io.atomic import write_dir_atomically
from components.vae.model import Vae, encode, to_pixels

INFO = "info.json"


@dataclass
class TrainingSet:
    latents: np.ndarray  # (N, C, h, w) float16, already multiplied by the VAE's scaling factor
    embeddings: np.ndarray  # (N, L, D) float16 token embeddings, read from disk as needed
    empty: np.ndarray  # (L, D) float32: the empty caption's embeddings, for caption dropout
    captions: list[str]
    info: dict[str, Any]  # rows, skipped (reason -> count), truncated captions, fingerprint

    def __len__(self) -> int:
        return len(self.latents)


def fingerprint(manifest_path: Path, vae_version: str, encoder_name: str, max_tokens: int, max_rows: int | None) -> str:
    digest = hashlib.sha256()
    digest.update(manifest_path.read_bytes())
    digest.update(f"\0{vae_version}\0{encoder_name}\0{max_tokens}\0{max_rows}".encode())
    return digest.hexdigest()[:16]


def _images_for(manifest: pd.DataFrame, shard_tars: Mapping[str, Path], size: int) -> tuple[dict, Counter[str]]:
    """(shard, key) -> (size, size, 3) uint8 for every manifest row found, and why the rest
    were not: `key_missing_from_shard` (never read from it, including samples the shard reader
    skipped as damaged, which it logs), `shard_missing`, `undecodable_image: <error>`."""
    wanted: dict[str, set[str]] = {}
    for shard, key in zip(manifest["shard"], manifest["key"], strict=True):
        wanted.setdefault(shard, set()).add(key)
    found: dict[tuple[str, str], np.ndarray] = {}
    skipped: Counter[str] = Counter()
    for shard, keys in sorted(wanted.items()):
        tar = shard_tars.get(shard)
        if tar is None or not tar.is_file():
            skipped["shard_missing"] += len(keys)
            continue
        seen: set[str] = set()
        for sample in read_shard(tar, stats=ReadStats(), decode=False):
            if sample.key not in keys:
                continue
            seen.add(sample.key)
            try:
                found[(shard, sample.key)] = decode_image(sample.image, size)[0]
            except Exception as error:  # PIL raises many types for bad bytes
                skipped[f"undecodable_image: {type(error).__name__}"] += 1
        if len(keys - seen):
            skipped["key_missing_from_shard"] += len(keys - seen)
    return found, skipped


@torch.no_grad()
def encode_latents(vae: Vae, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, C, h, w) float16 latents times the VAE's scaling factor."""
    scale = float(vae.config["scaling_factor"])
    vae.eval()
    parts = [
        (encode(vae, to_pixels(images[i : i + batch_size]).contiguous()) * scale).half().numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts)


def build_training_set(
    name: str,
    manifest_path: Path,
    shard_tars: Mapping[str, Path],
    *,
    vae: Vae,
    vae_version: str,
    encoder: TextEncoder,
    encoder_name: str,
    image_size: int,
    cache_dir: Path,
    max_rows: int | None = None,
) -> TrainingSet:
    """The mix `name` (its manifest at manifest_path: key, shard, caption, source) as latents and
    embeddings, from cache_dir when its fingerprint matches, else computed and cached there.
    max_rows: only the manifest's first rows (in its (shard, key) order), when a budget cannot
    see more."""
    wanted = fingerprint(manifest_path, vae_version, encoder_name, encoder.max_tokens, max_rows)
    cached = load_training_set(cache_dir)
    if cached is not None and cached.info.get("fingerprint") == wanted:
        return cached
    manifest = pd.read_parquet(manifest_path)
    if max_rows is not None:
        manifest = manifest.head(max_rows)
    missing_columns = {"key", "shard", "caption"} - set(manifest.columns)
    if missing_columns:
        raise ValueError(f"mix manifest {manifest_path} lacks column(s) {sorted(missing_columns)}")
    found, skipped = _images_for(manifest, shard_tars, image_size)
    rows = [
        (key, shard, caption)
        for key, shard, caption in zip(manifest["key"], manifest["shard"], manifest["caption"], strict=True)
        if (shard, key) in found
    ]
    if not rows:
        raise ValueError(
            f"mix {name!r} has no usable rows: {len(manifest)} in {manifest_path}, skipped {dict(skipped)}"
        )
    captions = [caption for _, _, caption in rows]
    images = np.stack([found[(shard, key)] for key, shard, _ in rows])
    latents = encode_latents(vae, images)
    truncated = sum(n > encoder.max_tokens for n in encoder.token_counts(captions))

    def fill(staging: Path) -> None:
        embeddings = np.lib.format.open_memmap(
            staging / "embeddings.npy",
            mode="w+",
            dtype=np.float16,
            shape=(len(rows), encoder.max_tokens, encoder.width),
        )
        rows_of: dict[str, list[int]] = {}  # each distinct caption is encoded once (alt text repeats)
        for row, caption in enumerate(captions):
            rows_of.setdefault(caption, []).append(row)
        distinct = list(rows_of)
        for start in range(0, len(distinct), 512):  # bounded memory: 512 captions of fp32 at a time
            chunk = distinct[start : start + 512]
            for caption, encoded in zip(chunk, encoder.encode(chunk), strict=True):
                embeddings[rows_of[caption]] = encoded
        embeddings.flush()
        del embeddings
        np.save(staging / "latents.npy", latents)
        np.save(staging / "empty.npy", encoder.encode([""])[0])
        info = {
            "mix": name,
            "fingerprint": wanted,
            "rows": len(rows),
            "manifest_rows": len(manifest),
            "max_rows": max_rows,
            "skipped": dict(skipped),
            "truncated": int(truncated),
            "distinct_captions": len(distinct),
            "max_tokens": encoder.max_tokens,
            "text_encoder": encoder_name,
            "vae_version": vae_version,
        }
        (staging / INFO).write_text(json.dumps(info, indent=1))
        (staging / "captions.json").write_text(json.dumps(captions))

    write_dir_atomically(cache_dir, fill, overwrite=True)
    loaded = load_training_set(cache_dir)
    assert loaded is not None
    return loaded


def load_training_set(cache_dir: Path) -> TrainingSet | None:
    """A complete cache directory, or None (absent, or left half-written by a killed run)."""
    if not (cache_dir / INFO).is_file():
        return None
    return TrainingSet(
        latents=np.load(cache_dir / "latents.npy"),
        embeddings=np.load(cache_dir / "embeddings.npy", mmap_mode="r"),
        empty=np.load(cache_dir / "empty.npy"),
        captions=json.loads((cache_dir / "captions.json").read_text()),
        info=json.loads((cache_dir / INFO).read_text()),
    )
