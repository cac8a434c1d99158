"""A transformers CLIPModel stands in for the judge: a tiny one made and saved here, loaded
by path (offline, as a hub id would be from the cache), scoring through the Judge interface."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import CLIPConfig, CLIPModel, PreTrainedTokenizerFast

from components.judge.clip_judge import ClipJudge
from components.judge.scoring import explain, feature_rows
from components.text.tokenizer import CaptionTokenizer


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    bpe = CaptionTokenizer.train(
        [f"a {c} circle on {b}" for c in ("red", "blue") for b in ("white", "black")], vocab_size=300
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe.backend, pad_token="<pad>", eos_token="<eos>")
    tokenizer.save_pretrained(folder)
    config = CLIPConfig(
        text_config={
            "vocab_size": bpe.vocab_size,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 32,
            "eos_token_id": bpe.eos_id,
            "pad_token_id": bpe.pad_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    return folder


def test_a_clip_model_scores_pairs_in_the_unit_interval(clip_dir: Path) -> None:
    judge = ClipJudge(clip_dir)
    assert judge.image_size == 32 and judge.score_kind == "cosine"
    images = torch.rand(3, 3, 64, 64)  # another size than the model's: resized
    scores = judge.score(images, ["a red circle on white", "a blue circle on black", "a red circle"])
    assert scores.shape == (3,) and bool(((scores >= 0) & (scores <= 1)).all())
    again = ClipJudge(clip_dir, batch_size=1).score(
        images, ["a red circle on white", "a blue circle on black", "a red circle"]
    )
    assert torch.allclose(scores, again, atol=1e-5)  # batching does not change a score
    features = ClipJudge(clip_dir, batch_size=2).encode_images(images)  # encoded once, any captions after
    assert torch.allclose(
        ClipJudge(clip_dir).score_encoded(feature_rows(features, [2, 0]), ["a red circle", "a red circle on white"]),
        scores[[2, 0]],
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="3 images but 2 captions"):
        judge.score(images, ["a", "b"])
    found = explain(judge, images[0], "A red circle. A blue circle on black.")
    assert found is not None and found.sentence in ("A red circle.", "A blue circle on black.")
