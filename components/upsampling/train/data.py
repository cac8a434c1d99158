"""The rewriter's training batches: each pair rendered by the tokenizer's chat template,
`<short>{short}<long>{long}<eos>`, and trained as a causal LM on the rewrite alone (the
prompt's tokens, through `<long>`, are context and never targets).

Batch: input_ids (B, T) long right-padded with the pad id, attention_mask (B, T), labels
(B, T) with -100 on the prompt and the padding. A pair longer than the context keeps its
prompt and as much of the rewrite as fits, without `<eos>`: the model must not learn to stop
mid-sentence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from components.data.augment import COLOR_NAMES, recolor_captions, swap_sides
from components.training.shuffled_loader import data_rank, shuffled_loader
from components.upsampling.train.pairs import CaptionPair

IGNORE = -100  # the label Hugging Face's causal-LM loss skips


def encode_pair(tokenizer: Any, short: str, long: str, context: int) -> tuple[list[int], int]:
    """(ids of the whole rendered pair cut to `context`, how many of them are the prompt)."""
    user = [{"role": "user", "content": short}]
    prompt = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
    whole = tokenizer.apply_chat_template([*user, {"role": "assistant", "content": long}], tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(whole, add_special_tokens=False)["input_ids"]
    return ids[:context], len(prompt_ids)


class EncodedPairs(Dataset):
    """Pair i encoded, recoloured and mirrored afresh at each draw when `augmented`: a random
    permutation of the colour words and, half the time, "left" and "right" swapped, in both
    captions alike (components/data/augment.py). A few hundred pairs are learnt by heart
    otherwise; this way the rewriter must copy the prompt's colours and sides, not recall
    a caption that once went with similar words."""

    def __init__(
        self, pairs: Sequence[CaptionPair], tokenizer: Any, context: int, *, augmented: bool = False, seed: int = 0
    ) -> None:
        if not pairs:
            raise ValueError("no (short, long) caption pairs to train the rewriter on")
        # a prompt that fills the context teaches nothing
        self.pairs = [p for p in pairs if _has_target(encode_pair(tokenizer, p.short, p.long, context))]
        if not self.pairs:
            raise ValueError(f"every pair's short caption fills the rewriter's {context}-token context")
        self.tokenizer, self.context, self.augmented, self.seed = tokenizer, context, augmented, seed
        self.pad_id = int(tokenizer.pad_token_id)
        self.draws = 0  # differs per epoch, so the augmentations vary

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[list[int], int]:
        short, long = self.pairs[index].short, self.pairs[index].long
        if self.augmented:
            self.draws += 1
            rng = np.random.default_rng([self.seed, index, self.draws])
            short, long = recolor_captions([short, long], rng.permutation(len(COLOR_NAMES)).tolist())
            if rng.random() < 0.5:
                short, long = swap_sides([short, long])
        return encode_pair(self.tokenizer, short, long, self.context)

    def collate(self, rows: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, (ids, prompt_length) in enumerate(rows):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, prompt_length : len(ids)] = torch.tensor(ids[prompt_length:])
            mask[row, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def _has_target(row: tuple[list[int], int]) -> bool:
    return len(row[0]) > row[1]


class PairDataModule(L.LightningDataModule):
    def __init__(self, pairs: EncodedPairs, *, batch_size: int, seed: int, num_workers: int = 0) -> None:
        super().__init__()
        self.pairs, self.batch_size, self.seed, self.num_workers = pairs, batch_size, seed, num_workers

    def train_dataloader(self) -> DataLoader:
        """This rank's rows of each global batch (training/shuffled_loader.py)."""
        rank, world_size = data_rank(self)
        return shuffled_loader(
            self.pairs,
            batch_size=self.batch_size,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            num_workers=self.num_workers,
            collate_fn=self.pairs.collate,
        )
