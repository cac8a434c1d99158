"""The nucleus rule every caption sampler picks its tokens by, and what a batch of
generated captions holds.

`nucleus_choice` turns a row's logits and one uniform draw into a token by inverse CDF,
so a row's caption depends only on its own draws: CoCa's continuously batched sampler
(sampling.py) and the transformers backend's logits processor (hf/generation.py) both pick
through it, so the two backends mean the same thing by top_p and temperature.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class GeneratedCaptions:
    """Captions written for a batch of images, one row per image (what the transformers
    backend's `generate_captions` returns)."""

    sequences: list[list[int]]  # per image, the generated ids after the type token, <eos> excluded
    finished: list[bool]  # True where the row wrote <eos>; False where it ran out of max_new_tokens
    logprobs: list[float]  # sum of log p(token) of the sequence (and its <eos>) under the model itself


def nucleus_choice(
    logits: Tensor, uniforms: Tensor, *, top_p: float, temperature: float, candidates: int = 64
) -> Tensor:
    """Inverse-CDF pick from the top-p nucleus of softmax(logits / temperature).

    logits (n, V); uniforms (n,) in [0, 1). The nucleus is the smallest set of most likely
    tokens whose tempered probability reaches top_p (always at least the most likely one,
    so top_p = 0 is greedy); tokens are ranked by a stable sort, so ties go to the lowest
    id as argmax does. Temperature comes first and top-p is cut from the tempered
    distribution, as Hugging Face's `generate` does (TemperatureLogitsWarper before
    TopPLogitsWarper): a lower temperature then also narrows the nucleus, and as
    temperature -> 0 the pick becomes greedy whatever top_p is.

    Speed: a tempered nucleus is small, so the `candidates` most likely tokens (topk) are
    ranked first, and only rows whose nucleus reaches beyond them fall back to sorting the
    whole vocabulary (an O(V log V) sort per row per step was a sixth of recaptioning
    time). The pick is the same either way: the candidates' cumulative sums are the full
    ranking's first ones.
    """
    probs = F.softmax(logits / temperature, dim=-1)  # (n, V)
    n, vocab = probs.shape
    if candidates >= vocab:
        return _pick_from_ranked(*probs.sort(dim=-1, descending=True, stable=True), uniforms, top_p)
    top, ids = probs.topk(candidates, dim=-1)  # (n, k), descending
    ids, by_id = ids.sort(dim=-1)  # equal probabilities in id order, as the stable full sort ranks them
    top, rank = top.gather(1, by_id).sort(dim=-1, descending=True, stable=True)
    ids = ids.gather(1, rank)
    enough = top.cumsum(dim=-1)[:, -1] >= top_p  # (n,): the token after the candidates is cut
    if bool(enough.all()):
        return _pick_from_ranked(top, ids, uniforms, top_p)
    out = torch.empty(n, dtype=torch.long, device=probs.device)
    out[enough] = _pick_from_ranked(top[enough], ids[enough], uniforms[enough], top_p)
    rest = ~enough
    out[rest] = _pick_from_ranked(*probs[rest].sort(dim=-1, descending=True, stable=True), uniforms[rest], top_p)
    return out


def _pick_from_ranked(sorted_probs: Tensor, order: Tensor, uniforms: Tensor, top_p: float) -> Tensor:
    """sorted_probs (n, K) descending, order (n, K) their token ids -> (n,) picked ids."""
    if not len(sorted_probs):
        return order[:, 0]
    cut = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= top_p  # mass before this token already reaches top_p
    cut[:, 0] = False
    kept = sorted_probs.masked_fill(cut, 0.0)
    cdf = kept.cumsum(dim=-1)  # (n, K)
    target = uniforms.to(cdf)[:, None] * cdf[:, -1:]  # (n, 1)
    pick = torch.searchsorted(cdf, target, right=True)  # first rank whose cdf exceeds the draw
    pick = torch.minimum(pick, (~cut).sum(dim=-1, keepdim=True) - 1)  # rounding at the top end
    return order.gather(1, pick)[:, 0]
