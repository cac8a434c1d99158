"""Captioner training data: the web alt-text (pretraining) and the curated set (fine-tuning).

Both come from img2dataset-layout shards. Images go to the model as (B, 3, H, W) floats
in [0, 1]; captions as right-padded token ids that start with their type token (<short>
or <long>). Web alt-text trains the <short> type: it is the only caption a web image has.
The curated set is small, so it is held in memory and re-augmented every epoch; the web
set streams, shards split across DataLoader workers, through a shuffle buffer.

On several ranks (training/shuffled_loader.py) each takes its slice of every global batch of
the curated set. The web stream is split by shard over every rank's every worker (WebDataset's
split_by_node and split_by_worker), each reader cycling its own shards reshuffled (resampled)
for an equalised epoch: the same number of batches on every rank, or DDP would hang.
Augmentations are drawn per rank: fresh as on one process, not the same draws.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from components.captioner.train.batches import CaptionKey, CaptionTypeBatches
from components.captioner.train.data_settings import CaptionerDataSettings
from components.data.augment import augment
from components.data.curated import CuratedItem, load_curated, to_tensor
from components.data.image_decode import decode_image
from components.data.shard_reader import ReadStats, read_shard
from components.text.tokenizer import CaptionTokenizer
from components.text.words import word_counts
from components.training.shuffled_loader import data_rank, epoch_loader, shuffled_loader

log = logging.getLogger("recap.captioner.data")


class CuratedCaptionDataset(Dataset):
    """Each item draws a truth-keeping augmentation afresh, and its caption type too unless
    the key names one: `data[i]` draws the type, `data[(i, "long")]` (what
    CaptionTypeBatches hands out) takes it."""

    def __init__(self, items: Sequence[CuratedItem], settings: CaptionerDataSettings, seed: int = 0) -> None:
        if not items:
            raise ValueError("the curated split is empty: nothing to fine-tune on")
        self.items = list(items)
        self.settings = settings
        self.seed = seed
        self.draws = 0
        self.long_share = settings.long_share  # a curriculum may change it mid-run (caption_curriculum.py)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | CaptionKey) -> tuple[torch.Tensor, str, str]:
        index, kind = key if isinstance(key, tuple) else (key, None)
        # A fresh stream per draw: reproducible for a seed, different every epoch.
        self.draws += 1
        rng = np.random.default_rng([self.seed, index, self.draws, torch.initial_seed() % (2**32)])
        item = self.items[index]
        image, (short, long) = item.image, (item.short, item.long)
        if self.settings.augment:
            image, (short, long) = augment(image, [short, long], rng)
        if kind is None:
            kind = "long" if rng.random() < self.long_share else "short"
        if kind not in ("short", "long"):
            raise ValueError(f"caption type {kind!r} for item {index}: 'short' or 'long'")
        if kind == "long":
            return to_tensor(image), long, "long"
        return to_tensor(image), short, "short"


class WebAltText(IterableDataset):
    """Streams (image, alt-text, "short") from web shards, shuffled through a buffer. On one
    process an epoch is one pass over the shards; on several, `split` gives each rank its
    shards and each of its workers an equal quota of samples per epoch."""

    def __init__(
        self, tar_paths: Sequence[Path], settings: CaptionerDataSettings, image_size: int, seed: int = 0
    ) -> None:
        if not tar_paths:
            raise ValueError("no web shards to pretrain on")
        self.tar_paths = list(tar_paths)
        self.settings = settings
        self.image_size = image_size
        self.seed = seed
        self.epoch = 0
        self.stats = ReadStats()
        self.rank, self.world_size, self.quota = 0, 1, 0

    def split(self, rank: int, world_size: int, quota: int) -> None:
        """Rank `rank` of `world_size` reads shards i with i % (world_size x workers) == its
        reader's slot, `quota` samples per worker per epoch."""
        self.rank, self.world_size, self.quota = rank, world_size, quota

    def __iter__(self) -> Iterator[tuple[torch.Tensor, str, str]]:
        worker = get_worker_info()
        worker_id, workers = (worker.id, worker.num_workers) if worker else (0, 1)
        self.epoch += 1
        if self.world_size == 1:
            rng = np.random.default_rng([self.seed, self.epoch, worker_id])
            paths = [self.tar_paths[i] for i in rng.permutation(len(self.tar_paths)) if i % workers == worker_id]
            yield from self._buffered(self._decoded(paths), rng)
            return
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker_id])
        slot, slots = self.rank * workers + worker_id, self.world_size * workers
        mine = [path for i, path in enumerate(self.tar_paths) if i % slots == slot]
        if not mine:
            raise ValueError(
                f"{len(self.tar_paths)} web shards for {slots} readers ({self.world_size} ranks x {workers} "
                "workers): every reader needs a shard of its own"
            )
        yield from itertools.islice(self._buffered(self._resampled(mine, rng), rng), self.quota)

    def _decoded(self, paths: Iterable[Path]) -> Iterator[tuple[torch.Tensor, str, str]]:
        for path in paths:
            for sample in read_shard(path, stats=self.stats, decode=False):
                try:  # a user's web images come in any size and mode
                    image = decode_image(sample.image, self.image_size)[0]
                except Exception as error:  # untrusted bytes: PIL raises an open-ended set of types
                    self.stats.skip(sample.key, f"undecodable_image: {type(error).__name__}")
                    continue
                yield to_tensor(image), sample.caption, "short"

    def _resampled(self, paths: list[Path], rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, str, str]]:
        """`paths` over and over, reshuffled each pass."""
        while True:
            read = 0
            for sample in self._decoded([paths[i] for i in rng.permutation(len(paths))]):
                read += 1
                yield sample
            if not read:
                raise ValueError(f"no decodable web sample in {len(paths)} shard(s): {[p.name for p in paths]}")

    def _buffered(
        self, samples: Iterator[tuple[torch.Tensor, str, str]], rng: np.random.Generator
    ) -> Iterator[tuple[torch.Tensor, str, str]]:
        buffer: list[tuple[torch.Tensor, str, str]] = []
        for sample in samples:
            buffer.append(sample)
            if len(buffer) >= self.settings.shuffle_buffer:
                yield buffer.pop(int(rng.integers(len(buffer))))
        rng.shuffle(buffer)
        yield from buffer


def web_samples(tar_paths: Sequence[Path]) -> int:
    """Samples in the shards, by their parquet indexes (img2dataset's) where there are, else by reading."""
    total = 0
    for path in tar_paths:
        index = path.with_suffix(".parquet")
        if index.is_file():
            total += pq.read_metadata(index).num_rows
        else:
            total += sum(1 for _ in read_shard(path, decode=False))
    return total


class CaptionCollator:
    """(image, text, type) items -> {"images": (B, 3, H, W), "tokens": (B, T), "attention_mask"}."""

    def __init__(self, tokenizer: CaptionTokenizer, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.truncated = 0  # captions cut to fit the context, over the run (per process)

    def __call__(self, items: Sequence[tuple[torch.Tensor, str, str]]) -> dict[str, torch.Tensor]:
        images, texts, types = zip(*items, strict=False)
        batch = self.tokenizer.encode_batch(list(texts), list(types), self.max_length)
        self.truncated += batch.n_truncated
        return {
            "images": torch.stack(images),
            "tokens": batch.tokens,
            "attention_mask": batch.attention_mask,
            "n_truncated": torch.tensor(batch.n_truncated),
        }


class CaptionerDataModule(L.LightningDataModule):
    """stage "pretrain": web alt-text; stage "finetune": the curated train split. Validation
    is always the curated held-out split (both caption types, no augmentation)."""

    def __init__(
        self,
        *,
        stage: str,
        tokenizer: CaptionTokenizer,
        max_length: int,
        image_size: int,
        settings: CaptionerDataSettings,
        web_shards: Sequence[Path] = (),
        curated_shards: Sequence[Path] = (),
        seed: int = 0,
    ) -> None:
        super().__init__()
        if stage not in ("pretrain", "finetune"):
            raise ValueError(f"stage must be 'pretrain' or 'finetune', got {stage!r}")
        self.stage = stage
        self.settings = settings
        self.image_size = image_size  # the captioner's: images of another size are skipped and counted
        self.collate = CaptionCollator(tokenizer, max_length)
        self.web_shards = list(web_shards)
        self.curated_shards = list(curated_shards)
        self.seed = seed
        self.read_stats = ReadStats()
        self.train_data: Dataset | IterableDataset | None = None
        self.val_items: list[CuratedItem] = []

    def setup(self, stage: str | None = None) -> None:
        size = self.image_size
        if self.train_data is not None:
            return
        if self.stage == "pretrain":
            self.train_data = WebAltText(self.web_shards, self.settings, size, self.seed)
        else:
            train = load_curated(self.curated_shards, "train", image_size=size, stats=self.read_stats)
            self.train_data = CuratedCaptionDataset(train, self.settings, self.seed)
        if self.curated_shards:
            self.val_items = load_curated(self.curated_shards, "heldout", image_size=size, stats=self.read_stats)
        if self.read_stats.total_skipped:
            log.warning("skipped %d corrupt samples: %s", self.read_stats.total_skipped, dict(self.read_stats.skipped))

    def train_dataloader(self) -> DataLoader:
        workers = {
            "num_workers": self.settings.num_workers,
            "persistent_workers": self.settings.num_workers > 0,
            "collate_fn": self.collate,
        }
        if self.train_data is None:
            raise RuntimeError("train_dataloader() needs the training data: call setup('fit') first")
        rank, world_size = data_rank(self)
        batch = self.settings.batch_size
        if isinstance(self.train_data, WebAltText):
            if world_size > 1:
                if batch % world_size:
                    raise ValueError(f"the global batch of {batch} does not split over {world_size} ranks")
                batch //= world_size
                readers = world_size * max(1, self.settings.num_workers)
                # Each reader's quota: whole batches, all the readers' together within one pass.
                quota = web_samples(self.train_data.tar_paths) // (readers * batch) * batch
                if not quota:
                    raise ValueError(f"the web shards hold fewer samples than {readers} readers x a batch of {batch}")
                self.train_data.split(rank, world_size, quota)
            return DataLoader(self.train_data, batch_size=batch, drop_last=True, **workers)
        if not isinstance(self.train_data, CuratedCaptionDataset):
            raise TypeError(f"unexpected training data {type(self.train_data).__name__}")
        if self.settings.grouped_batches:
            long_lengths = word_counts([item.long for item in self.train_data.items])
            batches = CaptionTypeBatches(self.train_data, batch, long_lengths, seed=self.seed)
            return epoch_loader(self.train_data, batches, rank=rank, world_size=world_size, **workers)
        return shuffled_loader(
            self.train_data,
            batch_size=batch,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            num_workers=self.settings.num_workers,
            collate_fn=self.collate,
        )

    def val_dataloader(self) -> DataLoader:
        items = [
            (to_tensor(i.image), text, kind)
            for i in self.val_items
            for text, kind in ((i.short, "short"), (i.long, "long"))
        ]
        return DataLoader(
            # A list is a map-style dataset (__getitem__ and __len__); torch annotates `dataset` as Dataset.
            items,  # pyright: ignore[reportArgumentType]
            batch_size=self.settings.batch_size,
            collate_fn=self.collate,
        )
