"""Decoding through HF `generate`: what each strategy passes it, and per-row seeded nucleus sampling.

`generate` runs on the KV cache from the type token (the adapter's `generate`). The
checkpoint's own generation defaults (repetition penalties, n-gram blocking) are replaced
on loading (checkpoint._fit_to_tokenizer), so greedy is the most likely token, nucleus is
the CoCa engine's rule and beam is HF's plain beam search. Nucleus sampling uses
components/captioner/decoding.py's inverse-CDF rule (nucleus_choice) inside a logits processor, one uniform draw per
row per step from that row's generator: a caption depends only on its image and seed,
never on its batch (HF keeps every row in place until all finish, so row i always reads
generator i).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from components.captioner.decoding import nucleus_choice

STRATEGIES: tuple[str, ...] = ("nucleus", "greedy", "beam")


def generate_settings(
    strategy: str,
    *,
    batch: int,
    vocab_size: int,
    eos_token_id: int,
    pad_token_id: int,
    max_new_tokens: int,
    top_p: float,
    temperature: float,
    seeds: Sequence[int] | None,
    num_beams: int,
    length_penalty: float,
    device: torch.device,
) -> dict[str, Any]:
    """`generate`'s keyword arguments for a strategy of STRATEGIES over `batch` rows (the
    arguments as HFCaptioner.generate_captions documents them, checked here)."""
    settings: dict[str, Any] = dict(
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        use_cache=True,
        do_sample=False,
        num_beams=1,
    )
    if strategy == "nucleus":
        if not 0.0 <= top_p <= 1.0:
            raise ValueError(f"top_p={top_p!r} must be in [0, 1]")
        if not temperature > 0:
            raise ValueError(f"temperature={temperature!r} must be > 0 (use greedy for temperature 0)")
        if seeds is not None and len(seeds) != batch:
            raise ValueError(f"seeds has {len(seeds)} entries for {batch} images")
        from transformers import LogitsProcessorList

        generators = None if seeds is None else [torch.Generator(device).manual_seed(int(s)) for s in seeds]
        settings["logits_processor"] = LogitsProcessorList([RowSeededNucleus(generators, top_p, temperature)])
    elif strategy == "beam":
        if isinstance(num_beams, bool) or not isinstance(num_beams, int) or not 1 <= num_beams <= vocab_size // 2:
            raise ValueError(f"num_beams={num_beams!r} must be an int in [1, vocab_size / 2 = {vocab_size // 2}]")
        settings.update(num_beams=num_beams, length_penalty=length_penalty, early_stopping=True)
    return settings


class RowSeededNucleus:
    """A logits processor: each row's token by decoding's nucleus rule from one uniform of
    its own generator; every other token gets -inf, so generate's greedy step takes it.
    Rows stay in place in HF's sampling loop, so row i always draws from generators[i]."""

    def __init__(self, generators: Sequence[torch.Generator] | None, top_p: float, temperature: float) -> None:
        self.generators = generators
        self.top_p = top_p
        self.temperature = temperature

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        """scores (n, V) -> (n, V): 0 at each row's chosen token, -inf elsewhere."""
        n = scores.shape[0]
        if self.generators is None:
            uniforms = torch.rand(n, device=scores.device)
        else:
            if len(self.generators) != n:
                raise ValueError(f"{len(self.generators)} generators for {n} rows (one row per image)")
            uniforms = torch.stack(
                [torch.rand((), generator=g, device=g.device).to(scores.device) for g in self.generators]
            )
        chosen = nucleus_choice(scores.float(), uniforms, top_p=self.top_p, temperature=self.temperature)  # (n,)
        return torch.full_like(scores, float("-inf")).scatter_(1, chosen[:, None], 0.0)


def split_at_eos(ids: Tensor, eos_token_id: int) -> tuple[list[list[int]], list[bool]]:
    """generate's (B, 1 + n) ids, start token first -> per row the ids after it up to <eos>
    (excluded), and whether the row wrote <eos>."""
    sequences, finished = [], []
    for row in ids[:, 1:].tolist():
        done = eos_token_id in row
        sequences.append(row[: row.index(eos_token_id)] if done else row)
        finished.append(done)
    return sequences, finished
