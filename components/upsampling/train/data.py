"""The rewriter's training batches: each pair rendered by the tokenizer's chat template,
`<short>{short}<long>{long}<eos>`, and trained on the rewrite alone (the prompt's tokens,
through `<long>`, are context and never targets).

A causal model (`seq2seq` False) reads the whole rendered pair. Batch: input_ids (B, T) long
right-padded with the pad id, attention_mask (B, T), labels (B, T) with -100 on the prompt and
the padding. A pair longer than the context keeps its prompt and as much of the rewrite as
fits, without `<eos>`: the model must not learn to stop mid-sentence.

An encoder-decoder (`seq2seq` True) reads the prompt, `<short>{short}<long>`, in its encoder
and writes `{long}<eos>` in its decoder, each side at most `context` tokens (a rewrite cut as
above); a pair whose prompt is longer is left out, as the backend draws such a prompt as
written. Batch: input_ids (B, S) and attention_mask (B, S) of the prompts, labels (B, L) of the
rewrites with -100 on the padding; the model shifts the labels right behind its decoder's
start token itself.
"""

from __future__ import annotations

import sys
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


def encode_seq2seq_pair(tokenizer: Any, short: str, long: str, context: int) -> tuple[list[int], int]:
    """(the prompt's ids then the rewrite's cut to `context`, how many of them are the prompt);
    the prompt is never cut."""
    ids, prompt_length = encode_pair(tokenizer, short, long, sys.maxsize)
    return ids[: prompt_length + context], prompt_length


class EncodedPairs(Dataset):
    """Pair i encoded, recoloured and mirrored afresh at each draw when `augmented`: a random
    permutation of the colour words and, half the time, "left" and "right" swapped, in both
    captions alike (components/data/augment.py). A few hundred pairs are learnt by heart
    otherwise; this way the rewriter must copy the prompt's colours and sides, not recall
    a caption that once went with similar words. `seq2seq`: rows and batches for an
    encoder-decoder (see the module)."""

    def __init__(
        self,
        pairs: Sequence[CaptionPair],
        tokenizer: Any,
        context: int,
        *,
        augmented: bool = False,
        seed: int = 0,
        seq2seq: bool = False,
    ) -> None:
        if not pairs:
            raise ValueError("no (short, long) caption pairs to train the rewriter on")
        self.tokenizer, self.context, self.augmented, self.seed = tokenizer, context, augmented, seed
        self.seq2seq = seq2seq
        # a prompt that fills the context teaches nothing; an encoder's must fit it whole
        self.pairs = [p for p in pairs if self._teaches(self._encode(p.short, p.long))]
        if not self.pairs:
            raise ValueError(f"every pair's short caption fills the rewriter's {context}-token context")
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
        return self._encode(short, long)

    def _encode(self, short: str, long: str) -> tuple[list[int], int]:
        encode = encode_seq2seq_pair if self.seq2seq else encode_pair
        return encode(self.tokenizer, short, long, self.context)

    def _teaches(self, row: tuple[list[int], int]) -> bool:
        ids, prompt_length = row
        return len(ids) > prompt_length and not (self.seq2seq and prompt_length > self.context)

    def collate(self, rows: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        return self._collate_seq2seq(rows) if self.seq2seq else self._collate_causal(rows)

    def _collate_causal(self, rows: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, (ids, prompt_length) in enumerate(rows):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, prompt_length : len(ids)] = torch.tensor(ids[prompt_length:])
            mask[row, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}

    def _collate_seq2seq(self, rows: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        sources = [ids[:prompt_length] for ids, prompt_length in rows]
        targets = [ids[prompt_length:] for ids, prompt_length in rows]
        input_ids = torch.full((len(rows), max(map(len, sources))), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        labels = torch.full((len(rows), max(map(len, targets))), IGNORE, dtype=torch.long)
        for row, (source, target) in enumerate(zip(sources, targets, strict=True)):
            input_ids[row, : len(source)] = torch.tensor(source)
            mask[row, : len(source)] = 1
            labels[row, : len(target)] = torch.tensor(target)
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


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
