"""Greedy decoding written the plainest way: the known answer the captioner's samplers are
tested against (the engine at top_p 0, a checkpoint's round trip, a model that has learnt
its batch).

Every step recomputes every row's whole prefix (`CocaModel.caption_logits`, no KV cache,
no row leaving the batch), so nothing the samplers rely on (the cache, continuous
batching, compaction) can agree with it by a shared mistake. Ties go to the lowest id
(argmax), as nucleus sampling at top_p 0 breaks them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from components.captioner.model import CocaModel


class Written(NamedTuple):
    sequences: list[list[int]]  # per image, the ids after its type token, <eos> excluded
    finished: list[bool]  # True where the row wrote <eos>; False where it ran out of max_new_tokens


@torch.no_grad()
def greedy(
    model: CocaModel, images: Tensor, *, start_token_id: int | Tensor, eos_token_id: int, max_new_tokens: int
) -> Written:
    """The most likely next token at every step. images (B, C, H, W) in [0, 1];
    start_token_id: each row's caption type token, one int or (B,)."""
    assert not model.training, "call model.eval() first: dropout would make the answer random"
    image_tokens = model.encode_image(images).tokens  # (B, Q, Dt)
    b = image_tokens.shape[0]
    prefix = torch.as_tensor(start_token_id, device=image_tokens.device).expand(b)[:, None]  # (B, 1)
    sequences: list[list[int]] = [[] for _ in range(b)]
    finished = [False] * b
    for _ in range(max_new_tokens):
        chosen = model.caption_logits(image_tokens, prefix)[:, -1].float().argmax(dim=-1)  # (B,)
        for row, token in enumerate(chosen.tolist()):
            if finished[row]:
                continue  # a finished row runs on, its tokens unread: causal attention keeps the others apart
            if token == eos_token_id:
                finished[row] = True
            else:
                sequences[row].append(token)
        if all(finished):
            break
        prefix = torch.cat([prefix, chosen[:, None]], dim=1)  # (B, t + 1)
    return Written(sequences, finished)
