"""The nucleus rule every sampler picks by (decoding.nucleus_choice): known distributions,
temperature before the top-p cut, ties, and its candidate fast path against the full sort.
The samplers built on it are tested through the engine (test_engine.py)."""

from __future__ import annotations

import torch

from components.captioner.decoding import nucleus_choice


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
