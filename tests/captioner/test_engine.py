"""The caption engine: greedy at top-p 0, per-key seeding, compaction that changes nothing
but speed, token limits, the SplitMix64 known answer, and the transformers backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.captioner.engine import CaptionEngine
from components.captioner.keyed_random import key_seed, key_seeds, step_uniforms
from components.captioner.sampling import SamplingSettings
from tests.captioner.reference_greedy import greedy

KEYS = [f"{i:09d}" for i in range(7)]


@pytest.fixture
def images() -> torch.Tensor:
    """One image per key of KEYS."""
    return torch.rand(len(KEYS), 3, 64, 64, generator=torch.Generator().manual_seed(0))


def test_splitmix64_known_answer() -> None:
    # SplitMix64 from state 0: the first output is 0xE220A8397B1DCDAF (Vigna's reference code).
    [u] = step_uniforms(np.array([0], dtype=np.uint64), 0)
    assert u == (0xE220A8397B1DCDAF >> 11) / 2**53
    # Draw t of a stream is output t + 1 of a generator at the seed: 0x6E789E6AA1B965F4 second.
    [u1] = step_uniforms(np.array([0], dtype=np.uint64), 1)
    assert u1 == (0x6E789E6AA1B965F4 >> 11) / 2**53


def test_key_seeds_depend_on_seed_key_and_stream() -> None:
    seeds = {key_seed(0, "a", "short"), key_seed(0, "a", "long"), key_seed(1, "a", "short"), key_seed(0, "b", "short")}
    assert len(seeds) == 4
    assert key_seeds(0, ["a", "b"], "short").tolist() == [key_seed(0, "a", "short"), key_seed(0, "b", "short")]
    with pytest.raises(ValueError, match="uint64"):
        step_uniforms(np.array([1, 2]), 0)


def test_top_p_zero_is_greedy_for_both_caption_types(captioner, images) -> None:
    model, tokenizer = captioner
    settings = SamplingSettings(top_p=0.0, max_short_tokens=12, max_long_tokens=30)
    pairs = CaptionEngine(model, settings).caption(images, KEYS)
    for caption_type, limit in (("short", 12), ("long", 30)):
        want = greedy(
            model,
            images,
            start_token_id=tokenizer.type_id(caption_type),
            eos_token_id=tokenizer.eos_id,
            max_new_tokens=limit,
        )
        assert [getattr(p, f"{caption_type}_ids") for p in pairs] == want.sequences
        assert [getattr(p, f"{caption_type}_finished") for p in pairs] == want.finished


def test_same_seed_same_captions_at_batch_sizes_1_and_7(captioner, images) -> None:
    model, tokenizer = captioner
    engine = CaptionEngine(model, SamplingSettings(seed=3, max_short_tokens=12, max_long_tokens=30))
    together = engine.caption(images, KEYS)
    alone = [engine.caption(images[i : i + 1], KEYS[i : i + 1])[0] for i in range(7)]
    shuffled = engine.caption(images.flip(0), KEYS[::-1])[::-1]
    assert together == alone == shuffled
    lengths = {len(p.long_ids) for p in together}
    assert len(lengths) > 1, "rows should end at different steps for this test to mean anything"
    other_seed = CaptionEngine(model, SamplingSettings(seed=4, max_short_tokens=12, max_long_tokens=30))
    assert other_seed.caption(images, KEYS) != together
    # One type alone (what regeneration asks for) is that type's caption of the pair.
    longs = engine.caption_one_type(images, KEYS, "long")
    assert [(text, ids, done) for text, ids, done in longs] == [(p.long, p.long_ids, p.long_finished) for p in together]


def test_compaction_changes_work_not_captions(captioner, images) -> None:
    model, tokenizer = captioner
    settings = SamplingSettings(max_short_tokens=12, max_long_tokens=30)
    always = CaptionEngine(model, settings, compact_below=1.0)
    never = CaptionEngine(model, settings, compact_below=0.0)
    assert always.caption(images, KEYS) == never.caption(images, KEYS)
    assert always.stats.row_steps < never.stats.row_steps  # finished rows left the batch
    assert never.stats.row_steps == never.stats.steps * 2 * len(KEYS)


def test_token_limits_cut_rows_and_say_so(captioner, images) -> None:
    model, tokenizer = captioner
    engine = CaptionEngine(model, SamplingSettings(max_short_tokens=1, max_long_tokens=2))
    for pair in engine.caption(images, KEYS):
        assert len(pair.short_ids) <= 1 and len(pair.long_ids) <= 2
        assert pair.short_finished or len(pair.short_ids) == 1
        assert pair.long_finished or len(pair.long_ids) == 2
        assert pair.long == tokenizer.decode(pair.long_ids)


def test_settings_and_inputs_are_checked(captioner, images) -> None:
    model, tokenizer = captioner
    with pytest.raises(ValueError, match="top_p"):
        SamplingSettings(top_p=1.5)
    with pytest.raises(ValueError, match="temperature"):
        SamplingSettings(temperature=0.0)
    with pytest.raises(ValueError, match="context_length"):
        CaptionEngine(model, SamplingSettings(max_long_tokens=model.config.context_length))
    engine = CaptionEngine(model, SamplingSettings(max_short_tokens=4, max_long_tokens=4))
    with pytest.raises(ValueError, match="keys"):
        engine.caption(images, KEYS[:3])
    with pytest.raises(ValueError, match="images must be"):
        engine.caption(images[:, :, :32, :32], KEYS)
    assert engine.caption(images[:0], []) == []


def test_transformers_backend_through_the_engine(tmp_path, images) -> None:
    from components.captioner.hf.captioner import HFCaptioner
    from tests.captioner.test_hf_captioner import _save_vision_encoder_decoder

    _save_vision_encoder_decoder(tmp_path / "hf")
    torch.manual_seed(0)
    model = HFCaptioner.from_pretrained(tmp_path / "hf")
    engine = CaptionEngine(model, SamplingSettings(max_short_tokens=6, max_long_tokens=10))
    together = engine.caption(images[:3], KEYS[:3])
    alone = [engine.caption(images[i : i + 1], KEYS[i : i + 1])[0] for i in range(3)]
    assert together == alone
    assert all(len(p.short_ids) <= 6 and len(p.long_ids) <= 10 for p in together)
    greedy_pairs = CaptionEngine(model, SamplingSettings(top_p=0.0, max_short_tokens=6, max_long_tokens=10)).caption(
        images[:3], KEYS[:3]
    )
    want = model.generate_captions(images[:3], "long", strategy="greedy", max_new_tokens=10)
    assert [p.long_ids for p in greedy_pairs] == want.sequences


def test_per_row_steps_draw_each_rows_own_stream() -> None:
    seeds = key_seeds(0, ["a", "b", "c"], "long")
    ragged = step_uniforms(seeds, np.array([0, 5, 2]))
    assert ragged.tolist() == [step_uniforms(seeds[i : i + 1], s)[0] for i, s in enumerate([0, 5, 2])]
    with pytest.raises(ValueError, match="one int per seed"):
        step_uniforms(seeds, np.array([0, 1]))


@pytest.mark.parametrize("max_rows", [1, 3, 4])
def test_continuous_batching_changes_work_not_captions(captioner, images, max_rows) -> None:
    # Few slots for 14 captions: finished rows are refilled with waiting ones mid-decoding,
    # each row at its own position; the captions must equal decoding all 14 at once.
    model, tokenizer = captioner
    settings = SamplingSettings(seed=2, max_short_tokens=12, max_long_tokens=30)
    everything = CaptionEngine(model, settings).caption(images, KEYS)
    engine = CaptionEngine(model, settings, max_rows=max_rows)
    assert engine.caption(images, KEYS) == everything
    assert engine.stats.row_steps <= max_rows * engine.stats.steps  # never more than max_rows in flight
    # Work done is what the captions need: each row runs once per token it writes (<eos>
    # included), plus idle slots at the tail only.
    needed = sum(len(p.short_ids) + p.short_finished + len(p.long_ids) + p.long_finished for p in everything)
    assert needed <= engine.stats.row_steps <= needed + max_rows * max(len(p.long_ids) + 1 for p in everything)
    assert CaptionEngine(model, settings).caption(images, KEYS, max_rows=max_rows) == everything
    with pytest.raises(ValueError, match="max_rows"):
        CaptionEngine(model, settings, max_rows=0)


def test_caches_never_read_uninitialised_memory(captioner, images, monkeypatch) -> None:
    # A refilled slot masks the keys its earlier caption never wrote, but a masked NaN still
    # poisons attention (0 * NaN = NaN). Reused memory can hold NaN: here every tensor made
    # with new_empty is NaN-filled, and the captions must not change.
    model, tokenizer = captioner
    settings = SamplingSettings(seed=2, max_short_tokens=12, max_long_tokens=30)
    clean = CaptionEngine(model, settings, max_rows=3).caption(images, KEYS)
    new_empty = torch.Tensor.new_empty

    def nan_filled(self, *args, **kwargs):
        out = new_empty(self, *args, **kwargs)
        return out.fill_(float("nan")) if out.is_floating_point() else out

    monkeypatch.setattr(torch.Tensor, "new_empty", nan_filled)
    assert CaptionEngine(model, settings, max_rows=3).caption(images, KEYS) == clean
    with torch.no_grad():
        cache = model.init_cache(model.encode_image(images).tokens, capacity=4)
    grown = cache.grown(9)
    assert not grown.keys.isnan().any() and not grown.values.isnan().any()
