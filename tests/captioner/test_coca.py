"""CocaModel: the shape of every block, the boundary checks, padding invariance, and the KV
cache against the full recomputation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from components.captioner.config import CocaConfig
from components.captioner.loss import CocaLoss
from components.captioner.model import CocaModel
from components.nn.transformer import attend, offset_causal_mask
from components.text.tokenizer import CaptionTokenizer


def _captions(tokenizer: CaptionTokenizer, length: int = 24) -> torch.Tensor:
    texts = ["A red circle on a gray background.", "vibes 🔥", "Two blue squares at the top left."]
    return tokenizer.encode_batch(texts, ["long", "short", "long"], length).tokens


@pytest.mark.parametrize(
    "stem,caption_tokens,stem_extra",
    [
        ("patch", "pooled", {}),
        ("conv", "pooled", {}),
        ("conv", "patches", {}),
        ("conv", "patches", {"stem_norm": "batch", "stem_depth": 2, "vision_post_norm": False, "word_head": True}),
    ],
)
def test_block_shapes(
    tiny_config: CocaConfig,
    tokenizer: CaptionTokenizer,
    images: torch.Tensor,
    stem: str,
    caption_tokens: str,
    stem_extra: dict,
) -> None:
    config = CocaConfig.from_dict(
        {**tiny_config.to_dict(), "stem": stem, "patch_size": 8, "caption_tokens": caption_tokens, **stem_extra}
    )
    model = CocaModel(config)
    c = config
    b, tokens = 3, _captions(tokenizer)
    t = tokens.shape[1]
    assert model.visual.stem(images).shape == (b, 64, c.vision_width)  # 64 / 8 = 8 x 8 tokens
    visual = model.visual(images * 2 - 1)
    assert visual.shape == (b, 64, c.vision_width)
    assert model.contrastive_pooler(visual).shape == (b, 1, c.embed_dim)
    assert model.caption_pooler(visual).shape == (b, c.n_caption_tokens, c.text_width)
    assert c.n_caption_tokens == (64 if caption_tokens == "patches" else c.n_caption_queries)
    states, cls = model.text(tokens, tokens != c.pad_token_id)
    assert states.shape == (b, t, c.text_width) and cls.shape == (b, c.text_width)
    image = model.encode_image(images)
    assert image.embeds.shape == (b, c.embed_dim) and image.tokens.shape == (b, c.n_caption_tokens, c.text_width)
    assert model.caption_logits(image.tokens, tokens).shape == (b, t, c.vocab_size)
    out = model(images, tokens)
    assert out.logits.shape == (b, t, c.vocab_size)
    if c.word_head:
        assert out.word_logits.shape == (b, c.vocab_size)
    else:
        assert out.word_logits is None and model.word_head is None
    assert out.image_embeds.shape == out.text_embeds.shape == (b, c.embed_dim)
    torch.testing.assert_close(out.image_embeds.norm(dim=-1), torch.ones(b))
    torch.testing.assert_close(out.text_embeds.norm(dim=-1), torch.ones(b))
    assert out.logit_scale.item() == pytest.approx(1 / 0.07, rel=1e-5)


def test_logit_scale_is_clamped(tiny_model: CocaModel, tokenizer: CaptionTokenizer, images: torch.Tensor) -> None:
    with torch.no_grad():
        tiny_model.logit_scale.fill_(10.0)  # exp(10) = 22026
    assert tiny_model(images, _captions(tokenizer)).logit_scale.item() == 100.0


def test_offset_causal_mask() -> None:
    # Two new queries at positions 3 and 4 of five keys.
    expected = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(offset_causal_mask(2, 5, torch.device("cpu")), expected)


def test_text_embedding_ignores_padding(tiny_model: CocaModel, tokenizer: CaptionTokenizer) -> None:
    ids = tokenizer.encode("A red circle.", "short", 32).ids
    tight = torch.tensor([ids])
    padded = torch.tensor([ids + [tokenizer.pad_id] * 9])
    torch.testing.assert_close(tiny_model.encode_text(tight), tiny_model.encode_text(padded))
    # The pad tokens are masked, not merely rare: unmasking them changes the embedding.
    unmasked = tiny_model.encode_text(padded, attention_mask=torch.ones_like(padded))
    assert not torch.allclose(tiny_model.encode_text(tight), unmasked, atol=1e-4)


def test_logits_of_real_tokens_ignore_padding(
    tiny_model: CocaModel, tokenizer: CaptionTokenizer, images: torch.Tensor
) -> None:
    tokens = _captions(tokenizer)
    longer = torch.cat([tokens, torch.full((3, 5), tokenizer.pad_id)], dim=1)
    torch.testing.assert_close(tiny_model(images, tokens).logits, tiny_model(images, longer).logits[:, :-5])


def test_boundary_checks_name_the_value(
    tiny_model: CocaModel, tokenizer: CaptionTokenizer, images: torch.Tensor
) -> None:
    tokens = _captions(tokenizer)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got values in \[0.0037.*, 255\]"):
        tiny_model(images * 255, tokens)
    with pytest.raises(ValueError, match="dtype torch.uint8"):
        tiny_model((images * 255).to(torch.uint8), tokens)
    with pytest.raises(ValueError, match=r"\(B, 3, 64, 64\), got \(3, 3, 32, 32\)"):
        tiny_model(images[:, :, :32, :32], tokens)
    with pytest.raises(ValueError, match="tokens has 2 rows but there are 3 images"):
        tiny_model(images, tokens[:2])
    with pytest.raises(ValueError, match=rf"vocab_size={tiny_model.config.vocab_size}\)"):
        tiny_model(images, tokens + 1000)
    with pytest.raises(ValueError, match="length 65"):
        tiny_model(images, torch.ones(3, 65, dtype=torch.long))
    left_padded = tokens.clone()
    left_padded[1] = torch.roll(left_padded[1], 3)
    with pytest.raises(ValueError, match="row 1 starts with padding"):
        tiny_model(images, left_padded)
    holes = tokens.clone()
    holes[0, 3] = tokenizer.pad_id
    with pytest.raises(ValueError, match="row 0 has a real token after padding"):
        tiny_model(images, holes)


def test_cached_steps_equal_the_full_recomputation(
    tiny_model: CocaModel, tokenizer: CaptionTokenizer, images: torch.Tensor
) -> None:
    tokens = torch.randint(4, tiny_model.config.vocab_size, (3, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        image_tokens = tiny_model.encode_image(images).tokens
        full = tiny_model.caption_logits(image_tokens, tokens)  # (3, 12, V)
        cache = tiny_model.init_cache(image_tokens, capacity=12)
        logits, cache = tiny_model.decode_step(tokens[:, :4], cache)  # a 4-token prefill
        torch.testing.assert_close(logits, full[:, 3], atol=1e-5, rtol=1e-5)
        logits, cache = tiny_model.decode_step(tokens[:, 4:7], cache)  # 3 more, causal among themselves
        torch.testing.assert_close(logits, full[:, 6], atol=1e-5, rtol=1e-5)
        for i in range(7, 12):
            logits, cache = tiny_model.decode_step(tokens[:, i : i + 1], cache)
            torch.testing.assert_close(logits, full[:, i], atol=1e-5, rtol=1e-5)
        assert cache.length == 12
        with pytest.raises(ValueError, match="overflows the cache capacity 12"):
            tiny_model.decode_step(tokens[:, :1], cache)


def test_cache_select_reorders_rows(tiny_model: CocaModel, images: torch.Tensor) -> None:
    tokens = torch.randint(4, tiny_model.config.vocab_size, (3, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        image_tokens = tiny_model.encode_image(images).tokens
        full = tiny_model.caption_logits(image_tokens, tokens)
        _, cache = tiny_model.decode_step(tokens[:, :5], tiny_model.init_cache(image_tokens, capacity=6))
        order = torch.tensor([2, 0])  # drop row 1, swap the others
        cache = cache.select(order)
        assert cache.batch_size == 2
        logits, _ = tiny_model.decode_step(tokens[order, 5:], cache)
    torch.testing.assert_close(logits, full[order, 5], atol=1e-5, rtol=1e-5)


def test_cache_grows_keeping_what_it_holds(tiny_model: CocaModel, images: torch.Tensor) -> None:
    tokens = torch.randint(4, tiny_model.config.vocab_size, (3, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        image_tokens = tiny_model.encode_image(images).tokens
        full = tiny_model.caption_logits(image_tokens, tokens)
        _, cache = tiny_model.decode_step(tokens[:, :4], tiny_model.init_cache(image_tokens, capacity=4))
        cache = cache.grown(9)
        assert cache.capacity == 9 and cache.length == 4
        logits, _ = tiny_model.decode_step(tokens[:, 4:], cache)
        with pytest.raises(ValueError, match="below the current"):
            cache.grown(3)
    torch.testing.assert_close(logits, full[:, -1], atol=1e-5, rtol=1e-5)


def test_rows_at_their_own_positions_equal_the_full_recomputation(tiny_model: CocaModel, images: torch.Tensor) -> None:
    # Continuous batching: row 0 decodes from the start; row 1's slot first holds another
    # caption (3 junk tokens) and then restarts at position 0 beside row 0; row 2 starts
    # two steps late. Every row's logits must equal its own caption's full recomputation:
    # the stale keys left in a restarted slot are masked.
    tokens = torch.randint(4, tiny_model.config.vocab_size, (3, 8), generator=torch.Generator().manual_seed(4))
    junk = torch.randint(4, tiny_model.config.vocab_size, (3,), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        image_tokens = tiny_model.encode_image(images).tokens
        full = tiny_model.caption_logits(image_tokens, tokens)  # (3, 8, V)
        cache = tiny_model.init_cache(image_tokens, capacity=12)
        starts = [0, 3, 2]  # the step at which each row's caption starts at position 0
        for step in range(11):
            live = [r for r, s in enumerate(starts) if s <= step < s + 8]
            # Before its start a row feeds junk at position `step`; after its end it idles at 0.
            positions = torch.tensor(
                [step - s if r in live else (step if step < s else 0) for r, s in enumerate(starts)]
            )
            fed = torch.stack([tokens[r, step - s] if r in live else junk[r] for r, s in enumerate(starts)])
            logits, cache = tiny_model.decode_rows(fed, positions, cache)
            assert cache.length == int(positions.max()) + 1
            for r in live:
                torch.testing.assert_close(logits[r], full[r, step - starts[r]], atol=1e-5, rtol=1e-5)
        with pytest.raises(ValueError, match="capacity=12"):
            tiny_model.decode_rows(fed, torch.tensor([0, 12, 0]), cache)
        with pytest.raises(ValueError, match=r"must be \(3,\)"):
            tiny_model.decode_rows(fed[:2], positions[:2], cache)


def test_batch_norm_stem_in_eval_mode_does_not_depend_on_the_batch(
    tiny_config: CocaConfig, images: torch.Tensor
) -> None:
    config = CocaConfig.from_dict(
        {**tiny_config.to_dict(), "stem": "conv", "patch_size": 8, "stem_norm": "batch", "stem_depth": 2}
    )
    torch.manual_seed(0)
    model = CocaModel(config)
    model.train()
    for _ in range(3):  # move the running statistics off their initial values
        model.encode_image(torch.rand(4, 3, 64, 64))
    assert model.visual.stem.net[1].num_batches_tracked.item() == 3
    model.eval()
    alone = model.encode_image(images[:1]).tokens
    with_others = model.encode_image(torch.cat([images[:1], torch.rand(5, 3, 64, 64)])).tokens[:1]
    torch.testing.assert_close(alone, with_others, rtol=1e-5, atol=1e-5)
    model.train()  # in training, batch statistics: the same image's tokens move with its batch
    assert not torch.allclose(model.encode_image(images[:2]).tokens[:1], with_others, atol=1e-3)


def test_attend_runs_a_bf16_training_pass_in_fp32() -> None:
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 5, 8) for _ in range(3))
    reference = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    low = [t.to(torch.bfloat16).requires_grad_() for t in (q, k, v)]
    out = attend(*low, is_causal=True)
    assert out.dtype == torch.bfloat16  # the caller's dtype back, computed from fp32 copies
    expected = F.scaled_dot_product_attention(*(t.detach().float() for t in low), is_causal=True)
    assert torch.equal(out, expected.to(torch.bfloat16))
    torch.testing.assert_close(out.float(), reference, atol=0.03, rtol=0.03)
    out.float().sum().backward()
    assert all(t.grad is not None and t.grad.dtype == torch.bfloat16 for t in low)
    with torch.no_grad():  # decoding keeps bf16 (its forward is as fast)
        assert attend(*(t.detach() for t in low)).dtype == torch.bfloat16


def test_bf16_autocast_training_step_matches_fp32(
    tiny_config: CocaConfig, tokenizer: CaptionTokenizer, images: torch.Tensor
) -> None:
    tokens = _captions(tokenizer)
    torch.manual_seed(0)
    model = CocaModel(tiny_config).train()
    loss_fn = CocaLoss(pad_token_id=tiny_config.pad_token_id)
    full = loss_fn(model(images, tokens), tokens).total
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss_fn(model(images, tokens), tokens).total
    assert torch.isfinite(mixed) and abs(mixed.item() - full.item()) < 0.02 * full.item()
    mixed.backward()
    grads = dict(model.named_parameters())
    assert all(torch.isfinite(p.grad).all() for p in grads.values() if p.grad is not None)
    assert grads["visual.stem.conv.weight"].grad.abs().sum() > 0  # the image tower trains through it
