"""What the judge trains on: the curated training pairs, both caption types, each with a hard
negative made from its own caption text (components/judge/perturb.py), never from a
scene record, so a user's curated set trains a judge the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from components.data.augment import augment
from components.data.curated import CuratedItem, to_tensor
from components.judge.perturb import hard_negatives
from components.text.tokenizer import CaptionTokenizer
from components.training.shuffled_loader import data_rank, shuffled_loader


@dataclass(frozen=True)
class JudgeExample:
    image: torch.Tensor  # (3, S, S) in [0, 1]
    caption: str
    negative: str | None  # the caption with one fact changed; None when no perturbation applies


class JudgePairs(Dataset):
    """Index i is item i // 2 with its short (even i) or descriptive (odd i) caption, colour-
    permuted and flipped as the captioner's training is (the captions follow), and one of
    the hard negatives of the caption actually shown, drawn at random."""

    def __init__(
        self, items: Sequence[CuratedItem], *, seed: int = 0, augmented: bool = True, hard_negatives: bool = True
    ) -> None:
        if not items:
            raise ValueError("no curated training pairs to train the judge on")
        self.items = list(items)
        self.seed = seed
        self.augmented = augmented
        self.with_negatives = hard_negatives
        self.draws = 0  # differs per epoch and per worker pass, so augmentations vary

    def __len__(self) -> int:
        return 2 * len(self.items)

    def __getitem__(self, index: int) -> JudgeExample:
        self.draws += 1
        rng = np.random.default_rng([self.seed, index, self.draws])
        item = self.items[index // 2]
        image, (short, long) = item.image, (item.short, item.long)
        if self.augmented:
            image, (short, long) = augment(image, [short, long], rng)
        caption = long if index % 2 else short
        negatives = hard_negatives(caption, rng) if self.with_negatives else []
        negative = negatives[int(rng.integers(len(negatives)))].text if negatives else None
        return JudgeExample(to_tensor(image), caption, negative)


class JudgeCollator:
    """Examples -> images (B, 3, S, S), tokens and valid (B + H, T): the B captions, then the
    H negatives that exist, with negative_owner (H,) naming each one's image row."""

    def __init__(self, tokenizer: CaptionTokenizer, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, examples: Sequence[JudgeExample]) -> dict[str, torch.Tensor]:
        owners = [i for i, e in enumerate(examples) if e.negative is not None]
        texts = [e.caption for e in examples] + [str(examples[i].negative) for i in owners]
        batch = self.tokenizer.encode_batch(texts, "long", self.max_length)
        return {
            "images": torch.stack([e.image for e in examples]),
            "tokens": batch.tokens,
            "valid": batch.attention_mask,
            "negative_owner": torch.tensor(owners, dtype=torch.long),
        }


class JudgeDataModule(L.LightningDataModule):
    def __init__(
        self,
        items: Sequence[CuratedItem],
        tokenizer: CaptionTokenizer,
        max_length: int,
        *,
        batch_size: int,
        seed: int = 0,
        num_workers: int = 0,
        hard_negatives: bool = True,
    ) -> None:
        super().__init__()
        self.pairs = JudgePairs(items, seed=seed, hard_negatives=hard_negatives)
        self.collate = JudgeCollator(tokenizer, max_length)
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers

    def train_dataloader(self) -> DataLoader:
        """This rank's rows of each global batch (training/shuffled_loader.py). On several ranks
        a rank's in-batch negatives are its own rows: its share of the global batch."""
        rank, world_size = data_rank(self)
        return shuffled_loader(
            self.pairs,
            batch_size=self.batch_size,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            collate_fn=self.collate,
            num_workers=self.num_workers,
        )
