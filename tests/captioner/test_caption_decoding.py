"""Caption decoding: the cache against recomputation, greedy as the limit of nucleus and beam
search, per-row seeds, the nucleus rule on known distributions, and beam search on a
hand-made model where greedy is wrong."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from components.captioner.decoding import (
    beam_search,
    greedy,
    nucleus,
    nucleus_choice,
    row_generators,
)
from components.captioner.model import CocaModel, DecodeCache, ImageEncoding
from components.text.tokenizer import CaptionTokenizer

MAX_NEW = 12


@pytest.fixture
def eos_and_kwargs(tiny_model: CocaModel, tokenizer: CaptionTokenizer, images: torch.Tensor) -> dict:
    """Per-row start tokens, and an <eos> the untrained model writes early in row 0, so that
    rows end at different steps."""
    start = torch.tensor([tokenizer.type_id("long"), tokenizer.type_id("short"), tokenizer.pad_id])
    first = greedy(tiny_model, images, start_token_id=start, eos_token_id=tokenizer.eos_id, max_new_tokens=MAX_NEW)
    return {"start_token_id": start, "eos_token_id": first.sequences[0][2], "max_new_tokens": MAX_NEW}


def test_cached_greedy_equals_recomputation(tiny_model: CocaModel, images: torch.Tensor, eos_and_kwargs: dict) -> None:
    cached = greedy(tiny_model, images, **eos_and_kwargs)
    uncached = greedy(tiny_model, images, use_cache=False, **eos_and_kwargs)
    assert cached.sequences == uncached.sequences
    assert cached.finished == uncached.finished
    assert cached.logprobs == pytest.approx(uncached.logprobs, abs=1e-4)
    # The case covers a row leaving the batch while others go on.
    assert cached.finished[0] and len(cached.sequences[0]) <= 2
    assert max(len(s) for s in cached.sequences) > len(cached.sequences[0])


def test_greedy_is_nucleus_with_top_p_zero_and_beam_search_with_one_beam(
    tiny_model: CocaModel, images: torch.Tensor, eos_and_kwargs: dict
) -> None:
    reference = greedy(tiny_model, images, **eos_and_kwargs)
    sampled = nucleus(tiny_model, images, top_p=0.0, temperature=1.0, **eos_and_kwargs)
    one_beam = beam_search(tiny_model, images, num_beams=1, **eos_and_kwargs)
    assert sampled.sequences == one_beam.sequences == reference.sequences
    assert one_beam.finished == reference.finished


def test_per_row_seeds_make_captions_independent_of_the_batch(
    tiny_model: CocaModel, images: torch.Tensor, eos_and_kwargs: dict
) -> None:
    start = eos_and_kwargs["start_token_id"]
    kwargs = {**eos_and_kwargs, "top_p": 0.95, "temperature": 1.0}
    seeds = [11, 22, 33]
    together = nucleus(tiny_model, images, generators=row_generators(seeds), **kwargs).sequences
    alone = [
        nucleus(
            tiny_model, images[i : i + 1], generators=row_generators([s]), **{**kwargs, "start_token_id": start[i]}
        ).sequences[0]
        for i, s in enumerate(seeds)
    ]
    assert together == alone
    # Reordering the batch reorders the captions and changes nothing else.
    order = [2, 0, 1]
    shuffled = nucleus(
        tiny_model,
        images[order],
        generators=row_generators([seeds[i] for i in order]),
        **{**kwargs, "start_token_id": start[order]},
    )
    assert shuffled.sequences == [together[i] for i in order]
    # The seeds matter: other seeds give other captions.
    other = nucleus(tiny_model, images, generators=row_generators([1, 2, 3]), **kwargs).sequences
    assert other != together


def test_batch_generator_reproduces(tiny_model: CocaModel, images: torch.Tensor, eos_and_kwargs: dict) -> None:
    a = nucleus(tiny_model, images, generator=torch.Generator().manual_seed(5), **eos_and_kwargs)
    b = nucleus(tiny_model, images, generator=torch.Generator().manual_seed(5), **eos_and_kwargs)
    assert a.sequences == b.sequences


def test_nucleus_rule_on_a_known_distribution() -> None:
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()[None]  # (1, 4)

    def pick(u: float, top_p: float, temperature: float = 1.0) -> int:
        return int(nucleus_choice(logits, torch.tensor([u]), top_p=top_p, temperature=temperature))

    # top_p 0.7: the mass before token 1 is 0.5 < 0.7, before token 2 it is 0.8: nucleus {0, 1},
    # renormalised cdf (0.625, 1).
    assert [pick(u, 0.7) for u in (0.0, 0.6, 0.63, 0.999)] == [0, 0, 1, 1]
    assert pick(0.999, 1.0) == 3  # the whole distribution
    assert pick(0.999, 0.0) == 0  # greedy
    # Temperature comes first: at T = 0.5 the tempered probabilities are (0.685, 0.247, 0.062,
    # 0.007), so the mass before token 1 (0.685) already passes top_p 0.6 and only token 0 is
    # left. Cutting the untempered distribution first would keep {0, 1}.
    assert pick(0.999, 0.6, temperature=0.5) == 0
    assert pick(0.999, 0.6, temperature=1.0) == 1
    # Ties go to the lowest id, as argmax.
    tied = torch.zeros(1, 5)
    assert int(nucleus_choice(tied, torch.tensor([0.1]), top_p=0.0, temperature=1.0)) == 0


def test_decoders_check_their_arguments(tiny_model: CocaModel, images: torch.Tensor, eos_and_kwargs: dict) -> None:
    with pytest.raises(ValueError, match="top_p=1.5"):
        nucleus(tiny_model, images, top_p=1.5, **eos_and_kwargs)
    with pytest.raises(ValueError, match="temperature=0"):
        nucleus(tiny_model, images, temperature=0, **eos_and_kwargs)
    with pytest.raises(ValueError, match="generators has 2 entries for 3 images"):
        nucleus(tiny_model, images, generators=row_generators([1, 2]), **eos_and_kwargs)
    with pytest.raises(ValueError, match="max_new_tokens=64 exceeds context_length - 1 = 63"):
        greedy(tiny_model, images, **{**eos_and_kwargs, "max_new_tokens": 64})
    with pytest.raises(ValueError, match=r"start_token_id must be an int or \(3,\)"):
        greedy(tiny_model, images, **{**eos_and_kwargs, "start_token_id": torch.tensor([2, 3])})
    tiny_model.train()
    with pytest.raises(ValueError, match=r"call model.eval\(\)"):
        greedy(tiny_model, images, **eos_and_kwargs)


# ----------------------------------------------------------------------------- a hand-made model

PAD, EOS, START, A, B, C = range(6)


class TableModel:
    """Next-token probabilities from a table of (step, last token): greedy takes A (0.6), then
    any of three tokens (1/3 each), then <eos>: 0.2 in all. Beam search finds B then <eos>: 0.36."""

    training = False

    class config:  # noqa: N801 - stands in for a CocaConfig
        vocab_size = 6
        context_length = 16

    def init_cache(self, image_tokens: torch.Tensor, capacity: int) -> DecodeCache:
        empty = torch.zeros(1, image_tokens.shape[0], 1, 1, 1)
        return DecodeCache(keys=empty, values=empty, cross_keys=empty, cross_values=empty, length=0)

    def decode_step(self, fed: torch.Tensor, cache: DecodeCache) -> tuple[torch.Tensor, DecodeCache]:
        probs = torch.full((fed.shape[0], 6), 1e-9)
        for row, token in enumerate(fed[:, -1].tolist()):
            if cache.length == 0:
                probs[row, A], probs[row, B] = 0.6, 0.4
            elif cache.length == 1 and token == A:
                probs[row, A:] = 1 / 3
            elif cache.length == 1 and token == B:
                probs[row, EOS], probs[row, C] = 0.9, 0.1
            else:
                probs[row, EOS] = 1.0
        return probs.log(), dataclasses.replace(cache, length=cache.length + 1)


def test_beam_search_beats_greedy_where_greedy_is_myopic() -> None:
    model = TableModel()
    encoding = ImageEncoding(embeds=torch.zeros(2, 1), tokens=torch.zeros(2, 1, 1))
    kwargs = {"start_token_id": START, "eos_token_id": EOS, "max_new_tokens": 5}
    first = greedy(model, encoding, **kwargs)  # type: ignore[arg-type]
    assert first.sequences == [[A, A], [A, A]] and first.finished == [True, True]
    assert first.logprobs == pytest.approx([math.log(0.2)] * 2, abs=1e-6)
    for length_penalty in (0.0, 1.0):
        beams = beam_search(
            model,
            encoding,
            num_beams=2,
            length_penalty=length_penalty,
            **kwargs,  # type: ignore[arg-type]
        )
        assert beams.sequences == [[B], [B]] and beams.finished == [True, True]
        assert beams.logprobs == pytest.approx([math.log(0.36)] * 2, abs=1e-6)
    cut = greedy(model, encoding, **{**kwargs, "max_new_tokens": 1})  # type: ignore[arg-type]
    assert cut.sequences == [[A], [A]] and cut.finished == [False, False]


def test_candidate_fast_path_picks_what_the_full_sort_picks() -> None:
    gen = torch.Generator().manual_seed(0)
    # Peaked rows (the nucleus lies within the candidates), flat rows (it does not: the
    # fallback), and rows with tied logits.
    peaked = torch.randn(300, 500, generator=gen) * 4
    flat = torch.randn(100, 500, generator=gen) * 0.01
    tied = torch.zeros(20, 500)
    tied[:, [7, 3, 250]] = 5.0
    logits = torch.cat([peaked, flat, tied])
    uniforms = torch.rand(len(logits), generator=gen)
    for top_p, temperature in ((0.9, 0.7), (0.0, 1.0), (1.0, 1.0), (0.5, 2.0)):
        fast = nucleus_choice(logits, uniforms, top_p=top_p, temperature=temperature)
        full = nucleus_choice(logits, uniforms, top_p=top_p, temperature=temperature, candidates=500)
        assert torch.equal(fast, full), (top_p, temperature)
    assert set(nucleus_choice(tied, torch.zeros(20), top_p=0.0, temperature=1.0).tolist()) == {3}
