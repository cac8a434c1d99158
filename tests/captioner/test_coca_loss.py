"""CocaLoss: InfoNCE on hand-made cases, caption cross-entropy that ignores padding, weights."""

from __future__ import annotations

import math

import pytest
import torch

from components.captioner.loss import CocaLoss, caption_loss, contrastive_loss, word_loss
from components.captioner.model import CocaOutput


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_infonce_identity_2x2() -> None:
    eye = torch.eye(2)
    # Each row and column: logits (1, 0), positive first: -log(e / (e + 1)) = log(1 + e^-1).
    assert contrastive_loss(eye, eye, 1.0).item() == pytest.approx(_softplus(-1.0), abs=1e-6)


def test_infonce_asymmetric_2x2() -> None:
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    # logits = 2 * image @ text.T = [[2, 1.2], [0, 1.6]]
    image_to_text = (_softplus(1.2 - 2.0) + _softplus(0.0 - 1.6)) / 2  # rows
    text_to_image = (_softplus(0.0 - 2.0) + _softplus(1.2 - 1.6)) / 2  # columns
    expected = (image_to_text + text_to_image) / 2
    assert contrastive_loss(image, text, torch.tensor(2.0)).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.298736, abs=1e-6)  # (0.277501 + 0.319972) / 2


def test_caption_loss_known_answer_and_padding_ignored() -> None:
    pad, v = 0, 4
    tokens = torch.tensor([[3, 1, pad, pad], [3, 2, 1, pad]])
    logits = torch.zeros(2, 4, v)
    logits[0, 0] = torch.tensor([0.0, math.log(3.0), 0.0, 0.0])  # p(<eos>=1) = 3 / 6
    # Row 1: two uniform predictions (ln 4 each). Mean over the 3 real targets, not over rows.
    expected = (math.log(2.0) + 2 * math.log(4.0)) / 3
    assert caption_loss(logits, tokens, pad).item() == pytest.approx(expected, abs=1e-6)
    # Whatever is predicted where the target is padding, or at the last position, is ignored.
    logits[0, 1:] = torch.randn(3, v) * 50
    logits[1, 2:] = torch.randn(2, v) * 50
    assert caption_loss(logits, tokens, pad).item() == pytest.approx(expected, abs=1e-6)


def test_caption_loss_rejects_all_padding() -> None:
    with pytest.raises(ValueError, match="every target is padding"):
        caption_loss(torch.zeros(1, 3, 5), torch.tensor([[4, 0, 0]]), 0)


def _output(logit_scale: float = 1.0) -> tuple[CocaOutput, torch.Tensor]:
    tokens = torch.tensor([[3, 1, 0], [3, 2, 1]])
    out = CocaOutput(
        image_embeds=torch.eye(2),
        text_embeds=torch.eye(2),
        logits=torch.zeros(2, 3, 4),
        logit_scale=torch.tensor(logit_scale),
    )
    return out, tokens


def test_weights_combine_and_contrastive_can_be_off() -> None:
    out, tokens = _output()
    both = CocaLoss(pad_token_id=0)(out, tokens)
    assert both.caption.item() == pytest.approx(math.log(4.0))
    assert both.contrastive.item() == pytest.approx(_softplus(-1.0), abs=1e-6)
    assert both.total.item() == pytest.approx(both.contrastive.item() + 2 * both.caption.item())
    captioning_only = CocaLoss(contrastive_weight=0.0, caption_weight=1.0, pad_token_id=0)(out, tokens)
    assert captioning_only.contrastive.item() == 0.0
    assert captioning_only.total.item() == pytest.approx(math.log(4.0))
    with pytest.raises(ValueError, match="contrastive=-1"):
        CocaLoss(contrastive_weight=-1, pad_token_id=0)


def test_loss_trains_the_temperature(tiny_model, tokenizer, images) -> None:
    tiny_model.train()
    tokens = tokenizer.encode_batch(["A red circle.", "vibes", "IMG_2847.jpg"], "short", 16).tokens
    loss = CocaLoss(pad_token_id=tokenizer.pad_id)(tiny_model(images, tokens), tokens)
    loss.total.backward()
    assert tiny_model.logit_scale.grad is not None and tiny_model.logit_scale.grad.abs().item() > 0


def test_word_loss_known_answers() -> None:
    tokens = torch.tensor([[3, 5, 5, 6, 1, 0, 0], [2, 7, 1, 0, 0, 0, 0]])  # type, words, <eos>=1, pad=0
    sure = torch.full((2, 8), -1e4)
    sure[0, [5, 6, 1]] = 1e4  # row 0's distinct words after its type token, and nothing else
    sure[1, [7, 1]] = 1e4
    assert word_loss(sure, tokens, 0).item() == pytest.approx(0.0, abs=1e-6)
    # Undecided logits: ln 2 per vocabulary label, over the row's count of words (3 and 2).
    expected = (8 * math.log(2) / 3 + 8 * math.log(2) / 2) / 2
    assert word_loss(torch.zeros(2, 8), tokens, 0).item() == pytest.approx(expected)
    # The type token (position 0) is never a target: claiming it costs.
    sure[0, 3] = 10.0
    assert word_loss(sure, tokens, 0).item() == pytest.approx(10.0 / 3 / 2, rel=1e-3)
    with pytest.raises(ValueError, match="no words to predict"):
        word_loss(torch.zeros(1, 8), torch.tensor([[3, 0, 0]]), 0)


def test_word_loss_joins_the_total_only_with_a_word_head() -> None:
    out, tokens = _output()
    with pytest.raises(ValueError, match="needs a model with a word head"):
        CocaLoss(pad_token_id=0, word_weight=1.0)(out, tokens)
    out.word_logits = torch.zeros(2, 4)
    plain = CocaLoss(pad_token_id=0)(out, tokens)
    with_words = CocaLoss(pad_token_id=0, word_weight=0.5)(out, tokens)
    expected = word_loss(out.word_logits, tokens, 0).item()
    assert plain.word.item() == 0.0 and with_words.word.item() == pytest.approx(expected)
    assert with_words.total.item() == pytest.approx(plain.total.item() + 0.5 * expected)
    with pytest.raises(ValueError, match="word_weight=-1"):
        CocaLoss(pad_token_id=0, word_weight=-1)
