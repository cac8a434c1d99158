"""The alignment judge: shapes and boundary checks, its loss, the threshold calibration's
known answers, scoring and explanations, and a saved judge that loads and scores the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from components.judge.checkpoint import load_judge, read_judge_manifest, save_judge
from components.judge.config import JudgeConfig
from components.judge.loss import judge_loss
from components.judge.model import AlignmentJudge
from components.judge.scoring import AlignmentJudgeScorer, calibrate_threshold, explain, feature_rows, sentences
from components.text.tokenizer import CaptionTokenizer

TEXTS = [
    f"a {c} {s} at the {p}." for c in ("red", "blue", "green") for s in ("circle", "square") for p in ("top", "left")
]


@pytest.fixture(scope="module")
def tokenizer() -> CaptionTokenizer:
    return CaptionTokenizer.train(TEXTS, vocab_size=300)


@pytest.fixture(scope="module")
def judge(tokenizer: CaptionTokenizer) -> AlignmentJudge:
    torch.manual_seed(0)
    return AlignmentJudge(
        JudgeConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    )


def test_presets_and_config_round_trip() -> None:
    assert JudgeConfig.preset_names() == ["small", "tiny"]
    config = JudgeConfig.from_preset("tiny", vocab_size=300)
    assert JudgeConfig.from_dict(config.to_dict()) == config and config.towers.vocab_size == 300
    with pytest.raises(ValueError, match="unknown judge preset 'huge'"):
        JudgeConfig.from_preset("huge")
    with pytest.raises(ValueError, match="itm_depth=-1"):
        JudgeConfig(itm_depth=-1)


def test_shapes_and_boundary_checks(judge: AlignmentJudge, tokenizer: CaptionTokenizer) -> None:
    images = torch.rand(3, 3, 64, 64)
    image_embeds, image_tokens = judge.encode_image(images)
    assert image_embeds.shape == (3, 32) and torch.allclose(image_embeds.norm(dim=-1), torch.ones(3))
    assert image_tokens.shape == (3, 16, 64)  # 64 / 16 = 4 x 4 patches, text width 64
    batch = tokenizer.encode_batch(TEXTS[:3], "long", 64)
    text_embeds, states = judge.encode_text(batch.tokens, batch.attention_mask)
    assert text_embeds.shape == (3, 32) and states.shape == (3, batch.tokens.shape[1], 64)
    assert judge.match_logits(image_tokens, states, batch.attention_mask).shape == (3,)
    with pytest.raises(ValueError, match=r"images must be \(B, 3, 64, 64\), got \(3, 3, 32, 32\)"):
        judge.encode_image(torch.rand(3, 3, 32, 32))
    dual = AlignmentJudge(JudgeConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size))
    dual_only = AlignmentJudge(JudgeConfig(towers=dual.config.towers, itm_depth=0))
    with pytest.raises(ValueError, match="no matching head"):
        dual_only.match_logits(image_tokens, states, batch.attention_mask)


def test_a_caption_is_judged_the_same_however_its_batch_is_padded(judge, tokenizer) -> None:
    image = torch.rand(1, 3, 64, 64)
    scorer = AlignmentJudgeScorer(judge, tokenizer, "match")
    alone = scorer.score(image, [TEXTS[0]])
    padded = scorer.score(image.expand(2, -1, -1, -1), [TEXTS[0], TEXTS[0] + " and much more text after it here"])
    assert torch.allclose(alone, padded[:1], atol=1e-5)
    cosine = AlignmentJudgeScorer(judge, tokenizer, "cosine").score(image, [TEXTS[0]])
    assert 0.0 <= float(cosine) <= 1.0 and 0.0 <= float(alone) <= 1.0


@pytest.mark.parametrize("kind", ["match", "cosine"])
def test_images_encoded_once_score_any_captions_as_the_images_would(judge, tokenizer, kind: str) -> None:
    images = torch.rand(5, 3, 64, 64)
    scorer = AlignmentJudgeScorer(judge, tokenizer, kind, batch_size=2)  # batches of 2: 5 rows cross them
    features = scorer.encode_images(images)
    assert [f.shape[0] for f in features] == [5, 5]
    for captions in (TEXTS[:5], TEXTS[5:10]):  # two caption sets on the same features
        assert torch.allclose(scorer.score_encoded(features, captions), scorer.score(images, captions), atol=1e-5)
    rows = [4, 1, 1]  # any rows, in any order, repeated
    picked = scorer.score_encoded(feature_rows(features, rows), TEXTS[:3])
    assert torch.allclose(picked, scorer.score(images[rows], TEXTS[:3]), atol=1e-5)
    with pytest.raises(ValueError, match="5 images but 2 captions"):
        scorer.score_encoded(features, TEXTS[:2])


def test_the_loss_counts_hard_negatives_and_trains_every_part(judge, tokenizer) -> None:
    images = torch.rand(4, 3, 64, 64)
    batch = tokenizer.encode_batch(TEXTS[:4] + TEXTS[6:8], "long", 64)
    loss = judge_loss(judge, images, batch.tokens, batch.attention_mask, torch.tensor([0, 2]))
    assert loss.contrastive > 0 and loss.match > 0 and 0 <= float(loss.match_accuracy) <= 1
    judge.zero_grad()
    loss.total.backward()
    for name in ("visual", "image_pooler", "text", "itm_head", "logit_scale"):
        grads = [p.grad for n, p in judge.named_parameters() if n.startswith(name)]
        assert grads and all(g is not None for g in grads), name
    with pytest.raises(ValueError, match="6 captions for 4 images and 1 hard negatives"):
        judge_loss(judge, images, batch.tokens, batch.attention_mask, torch.tensor([0]))


def test_the_threshold_passes_the_configured_share_of_true_captions() -> None:
    scores = np.arange(1, 21) / 20  # 0.05 .. 1.00
    assert calibrate_threshold(scores, 1.0) == 0.05
    assert calibrate_threshold(scores, 0.95) == 0.10  # 19 of 20 reach it
    assert calibrate_threshold(scores[::-1], 0.5) == 0.55  # order does not matter
    rng = np.random.default_rng(0)
    sample = rng.random(1000)
    for share in (0.8, 0.9, 0.95, 0.99):
        threshold = calibrate_threshold(sample, share)
        assert np.mean(sample >= threshold) >= share and np.mean(sample > threshold) < share
    for bad, message in ((0.0, "pass_share"), (1.5, "pass_share")):
        with pytest.raises(ValueError, match=message):
            calibrate_threshold(scores, bad)
    with pytest.raises(ValueError, match="no true pairs"):
        calibrate_threshold([], 0.9)
    with pytest.raises(ValueError, match="NaN"):
        calibrate_threshold([0.1, float("nan")], 0.9)


def test_explanations_name_the_least_believed_sentence(judge, tokenizer) -> None:
    scorer = AlignmentJudgeScorer(judge, tokenizer, "match")
    caption = "A red circle at the top. A blue square at the left. A green circle at the top."
    assert sentences(caption) == [
        "A red circle at the top.",
        "A blue square at the left.",
        "A green circle at the top.",
    ]
    image = torch.rand(3, 64, 64)
    found = explain(scorer, image, caption)
    assert found is not None
    alone = scorer.score(image[None].expand(3, -1, -1, -1), sentences(caption))
    assert found.sentence == sentences(caption)[int(alone.argmin())] and found.score == pytest.approx(
        float(alone.min())
    )
    assert explain(scorer, image, "One sentence only.") is None


def test_a_saved_judge_loads_and_scores_the_same(tmp_path: Path, judge, tokenizer) -> None:
    images, captions = torch.rand(2, 3, 64, 64), TEXTS[:2]
    before = AlignmentJudgeScorer(judge, tokenizer, "match").score(images, captions)
    save_judge(tmp_path / "judge", judge, tokenizer, {"score_kind": "match", "threshold": 0.25}, overwrite=False)
    scorer, manifest = load_judge(tmp_path / "judge")
    assert manifest["threshold"] == 0.25 and read_judge_manifest(tmp_path / "judge")["format"] == "recap-judge"
    assert torch.allclose(scorer.score(images, captions), before)
    with pytest.raises(ValueError, match="score_kind"):
        save_judge(tmp_path / "other", judge, tokenizer, {"threshold": 0.25}, overwrite=False)
    with pytest.raises(FileNotFoundError, match="no judge directory"):
        load_judge(tmp_path)
    other = CaptionTokenizer.train(TEXTS, vocab_size=280)
    with pytest.raises(ValueError):
        AlignmentJudgeScorer(judge, other)  # its vocabulary does not match the judge's
