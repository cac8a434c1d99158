"""Writing captions with a CocaModel: greedy, nucleus sampling and beam search.

Every decoder takes a batch of images (or their ImageEncoding, to write several captions
per image from one image pass), starts each row from its caption type token, and stops a
row at <eos> or after max_new_tokens. Rows advance in lockstep on the model's KV cache;
a finished row leaves the batch (cache.select), so the rest run on fewer rows.
`use_cache=False` recomputes the whole prefix at every step: the reference the cached
path is tested against, and the baseline for benchmarks.

Nucleus sampling draws one uniform number per row per step and picks a token by inverse
CDF, so a row's caption depends only on its own draws: give each row its own generator
(`generators`, e.g. from `row_generators(seeds)`) and its caption no longer depends on
which other images share its batch (up to floating-point differences between batch
sizes, which can only flip a draw landing within rounding of a token boundary).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from components.captioner.model import CocaModel, ImageEncoding


@dataclass
class GeneratedCaptions:
    sequences: list[list[int]]  # per image, the generated ids after the type token, <eos> excluded
    finished: list[bool]  # True where the row wrote <eos>; False where it ran out of max_new_tokens
    logprobs: list[float]  # sum of log p(token) of the sequence (and its <eos>) under the model itself


def row_generators(seeds: Sequence[int], device: str | torch.device = "cpu") -> list[torch.Generator]:
    """One seeded generator per row, e.g. seeds derived from each sample's key."""
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]


# ----------------------------------------------------------------------------- shared checks and loop


def _image_tokens(model: CocaModel, images: Tensor | ImageEncoding) -> Tensor:
    if model.training:
        raise ValueError("the model is in training mode (dropout on): call model.eval() before decoding")
    if isinstance(images, ImageEncoding):
        return images.tokens
    return model.encode_image(images).tokens  # (B, Q, Dt)


def _start_ids(start_token_id: int | Tensor, batch: int, vocab: int, device: torch.device) -> Tensor:
    """(B,) start token per row from an int or a (B,) tensor."""
    start = torch.as_tensor(start_token_id, dtype=torch.long, device=device)
    if start.ndim == 0:
        start = start.expand(batch)
    if start.shape != (batch,):
        raise ValueError(f"start_token_id must be an int or ({batch},), got shape {tuple(start.shape)}")
    if start.min() < 0 or start.max() >= vocab:
        raise ValueError(f"start_token_id {start.tolist()} outside the vocabulary [0, {vocab})")
    return start


def _check_lengths(model: CocaModel, eos_token_id: int, max_new_tokens: int) -> None:
    c = model.config
    if not 0 <= eos_token_id < c.vocab_size:
        raise ValueError(f"eos_token_id={eos_token_id} outside the vocabulary [0, {c.vocab_size})")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens!r} must be a positive int")
    if max_new_tokens > c.context_length - 1:
        raise ValueError(
            f"max_new_tokens={max_new_tokens} exceeds context_length - 1 = {c.context_length - 1} (the type token "
            f"takes one position)"
        )


# choose(logits (n, V) float32, rows: original row index of each of the n rows) -> (n,) token ids
Chooser = Callable[[Tensor, list[int]], Tensor]


def _generate(
    model: CocaModel,
    image_tokens: Tensor,
    start: Tensor,
    eos_token_id: int,
    max_new_tokens: int,
    choose: Chooser,
    use_cache: bool,
) -> GeneratedCaptions:
    b = image_tokens.shape[0]
    rows = list(range(b))  # original row of each live batch row
    sequences: list[list[int]] = [[] for _ in range(b)]
    finished = [False] * b
    logprobs = [0.0] * b
    cache = model.init_cache(image_tokens, capacity=max_new_tokens) if use_cache else None
    fed = start[:, None]  # (n, 1) the token fed at this step
    for _ in range(max_new_tokens):
        if cache is not None:
            logits, cache = model.decode_step(fed, cache)  # (n, V)
        else:
            prefix = torch.tensor([[int(start[r])] + sequences[r] for r in rows], device=start.device)
            logits = model.caption_logits(image_tokens, prefix)[:, -1]  # (n, V)
        logits = logits.float()
        chosen = choose(logits, rows)  # (n,)
        chosen_logp = F.log_softmax(logits, dim=-1).gather(1, chosen[:, None])[:, 0]
        keep = []
        for i, (row, token, lp) in enumerate(zip(rows, chosen.tolist(), chosen_logp.tolist(), strict=True)):
            logprobs[row] += lp
            if token == eos_token_id:
                finished[row] = True
            else:
                sequences[row].append(token)
                keep.append(i)
        if not keep:
            break
        if len(keep) < len(rows):
            index = torch.tensor(keep, device=chosen.device)
            rows = [rows[i] for i in keep]
            chosen, image_tokens = chosen[index], image_tokens[index]
            if cache is not None:
                cache = cache.select(index)
        fed = chosen[:, None]
    return GeneratedCaptions(sequences=sequences, finished=finished, logprobs=logprobs)


# ----------------------------------------------------------------------------- decoders


@torch.no_grad()
def greedy(
    model: CocaModel,
    images: Tensor | ImageEncoding,
    *,
    start_token_id: int | Tensor,
    eos_token_id: int,
    max_new_tokens: int,
    use_cache: bool = True,
) -> GeneratedCaptions:
    """The most likely next token at every step. images (B, C, H, W) in [0, 1] or their encoding."""
    tokens = _image_tokens(model, images)
    _check_lengths(model, eos_token_id, max_new_tokens)
    start = _start_ids(start_token_id, tokens.shape[0], model.config.vocab_size, tokens.device)
    return _generate(
        model, tokens, start, eos_token_id, max_new_tokens, lambda logits, _: logits.argmax(dim=-1), use_cache
    )


def nucleus_choice(
    logits: Tensor, uniforms: Tensor, *, top_p: float, temperature: float, candidates: int = 64
) -> Tensor:
    """Inverse-CDF pick from the top-p nucleus of softmax(logits / temperature).

    logits (n, V); uniforms (n,) in [0, 1). The nucleus is the smallest set of most likely
    tokens whose tempered probability reaches top_p (always at least the most likely one,
    so top_p = 0 is greedy); tokens are ranked by a stable sort, so ties go to the lowest
    id as argmax does.

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


@torch.no_grad()
def nucleus(
    model: CocaModel,
    images: Tensor | ImageEncoding,
    *,
    start_token_id: int | Tensor,
    eos_token_id: int,
    max_new_tokens: int,
    top_p: float = 0.9,
    temperature: float = 0.7,
    generator: torch.Generator | None = None,
    generators: Sequence[torch.Generator] | None = None,
    use_cache: bool = True,
) -> GeneratedCaptions:
    """Nucleus (top-p) sampling, DALL-E 3's recaptioning decoder (top_p 0.9, temperature 0.7).

    Temperature is applied first and top-p is cut from the tempered distribution, as
    Hugging Face's `generate` does (TemperatureLogitsWarper before TopPLogitsWarper). The
    paper names both values without an order; this one is what standard tooling means by
    them, and it keeps the knobs monotone: a lower temperature sharpens the distribution
    and so also narrows the nucleus, and as temperature -> 0 the sampler becomes greedy
    whatever top_p is. top_p = 0 is greedy exactly.

    generator: one generator for the batch (a row's draw then depends on its batch
    position). generators: one per row, so each caption depends only on its own seed.
    Each live row consumes exactly one uniform draw per step.
    """
    tokens = _image_tokens(model, images)
    _check_lengths(model, eos_token_id, max_new_tokens)
    b = tokens.shape[0]
    start = _start_ids(start_token_id, b, model.config.vocab_size, tokens.device)
    if not 0.0 <= top_p <= 1.0:
        raise ValueError(f"top_p={top_p!r} must be in [0, 1]")
    if not temperature > 0:
        raise ValueError(f"temperature={temperature!r} must be > 0 (use greedy for temperature 0)")
    if generator is not None and generators is not None:
        raise ValueError("pass generator (one for the batch) or generators (one per row), not both")
    if generators is not None and len(generators) != b:
        raise ValueError(f"generators has {len(generators)} entries for {b} images")

    def choose(logits: Tensor, rows: list[int]) -> Tensor:
        if generators is not None:
            # Drawn where each generator lives (CPU ones give the same draws whatever device
            # the model runs on), then moved to the logits in one copy.
            draws = [torch.rand((), generator=generators[r], device=generators[r].device) for r in rows]
            uniforms = torch.stack([d.to(draws[0].device) for d in draws]).to(logits.device)
        elif generator is not None:
            uniforms = torch.rand(len(rows), generator=generator, device=generator.device).to(logits.device)
        else:
            uniforms = torch.rand(len(rows), device=logits.device)
        return nucleus_choice(logits, uniforms, top_p=top_p, temperature=temperature)

    return _generate(model, tokens, start, eos_token_id, max_new_tokens, choose, use_cache)


@dataclass
class _Hypothesis:
    tokens: list[int]
    logprob: float
    finished: bool

    def score(self, length_penalty: float) -> float:
        length = len(self.tokens) + int(self.finished)  # <eos> counts
        return self.logprob / max(length, 1) ** length_penalty


@torch.no_grad()
def beam_search(
    model: CocaModel,
    images: Tensor | ImageEncoding,
    *,
    start_token_id: int | Tensor,
    eos_token_id: int,
    max_new_tokens: int,
    num_beams: int = 4,
    length_penalty: float = 1.0,
) -> GeneratedCaptions:
    """Beam search per image; returns each image's best hypothesis by logprob / length**length_penalty.

    An image stops once num_beams hypotheses have ended (<eos> among the top num_beams
    candidates of a step), as Hugging Face's early_stopping=True; at max_new_tokens its
    live beams join the unfinished hypotheses. With num_beams = 1 this is greedy decoding.
    """
    encoded = _image_tokens(model, images)
    _check_lengths(model, eos_token_id, max_new_tokens)
    b, k, vocab = encoded.shape[0], num_beams, model.config.vocab_size
    if isinstance(num_beams, bool) or not isinstance(num_beams, int) or num_beams < 1 or 2 * num_beams > vocab:
        raise ValueError(f"num_beams={num_beams!r} must be an int in [1, vocab_size / 2 = {vocab // 2}]")
    start = _start_ids(start_token_id, b, vocab, encoded.device)
    cache = model.init_cache(encoded.repeat_interleave(k, dim=0), capacity=max_new_tokens)  # rows image-major
    fed = start.repeat_interleave(k)[:, None]  # (B * K, 1)
    # Only beam 0 is live at the first step, so the K beams do not start as K copies.
    scores = torch.full((b, k), float("-inf"), device=encoded.device)
    scores[:, 0] = 0.0
    images_live = list(range(b))
    beams: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(b)]  # [image][beam] tokens
    hypotheses: list[list[_Hypothesis]] = [[] for _ in range(b)]
    for _ in range(max_new_tokens):
        logits, cache = model.decode_step(fed, cache)  # (n * K, V)
        n = len(images_live)
        candidates = (scores.view(-1, 1) + F.log_softmax(logits.float(), dim=-1)).view(n, k * vocab)
        top_scores, top_index = candidates.topk(2 * k, dim=-1)  # (n, 2K): at most K are <eos>
        top_scores, top_index = top_scores.tolist(), top_index.tolist()
        next_images, next_rows, next_tokens, next_scores, next_beams = [], [], [], [], []
        for a, image in enumerate(images_live):
            chosen: list[tuple[float, int, int]] = []
            for rank, (score, flat) in enumerate(zip(top_scores[a], top_index[a], strict=True)):
                beam, token = divmod(flat, vocab)
                if token == eos_token_id:
                    if rank < k:
                        hypotheses[image].append(_Hypothesis(list(beams[image][beam]), score, finished=True))
                    continue
                chosen.append((score, beam, token))
                if len(chosen) == k:
                    break
            if len(hypotheses[image]) >= k:
                continue
            next_images.append(image)
            next_beams.append([beams[image][beam] + [token] for _, beam, token in chosen])
            for score, beam, token in chosen:
                next_rows.append(a * k + beam)
                next_tokens.append(token)
                next_scores.append(score)
        for image, image_beams in zip(next_images, next_beams, strict=True):
            beams[image] = image_beams
        images_live = next_images
        if not images_live:
            break
        device = encoded.device
        cache = cache.select(torch.tensor(next_rows, device=device))
        fed = torch.tensor(next_tokens, device=device)[:, None]
        scores = torch.tensor(next_scores, device=device).view(len(images_live), k)
    else:
        for a, image in enumerate(images_live):
            for beam in range(k):
                hypotheses[image].append(_Hypothesis(beams[image][beam], float(scores[a, beam]), finished=False))
    best = [max(h, key=lambda x: x.score(length_penalty)) for h in hypotheses]
    return GeneratedCaptions(
        sequences=[h.tokens for h in best], finished=[h.finished for h in best], logprobs=[h.logprob for h in best]
    )
