"""The frozen text encoder: the bundled MiniLM by default, any transformers encoder by path (a
CLIP text tower, a T5 encoder: tiny ones made here), its context checked and truncation counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

from components.generator.text_encoder import DEFAULT_TEXT_ENCODER, load_text_encoder, text_encoder_location


def test_the_default_is_the_bundled_minilm_padded_to_its_context(encoder) -> None:
    default = load_text_encoder()
    assert type(default.model).__name__ == "BertModel" and default.width == 384 and default.max_tokens == 128
    assert Path(text_encoder_location(DEFAULT_TEXT_ENCODER), "model.safetensors").is_file()
    out = encoder.encode(["a red circle", "a very long caption " * 10])
    assert out.shape == (2, 8, 384) and out.dtype == np.float32
    counts = encoder.token_counts(["a red circle", "a very long caption " * 10])
    assert counts[0] <= 8 < counts[1]  # the second is truncated to the context, and counted so
    assert not default.model.training and not any(p.requires_grad for p in default.model.parameters())


def _with_minilm_tokenizer(model, path: Path) -> Path:
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(text_encoder_location(DEFAULT_TEXT_ENCODER)).save_pretrained(path)
    return path


def test_a_clip_text_tower_and_a_t5_encoder_load_by_path(tmp_path: Path) -> None:
    clip = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=30522,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=16,
        )
    )
    loaded = load_text_encoder(str(_with_minilm_tokenizer(clip, tmp_path / "clip")), max_tokens=16)
    assert type(loaded.model).__name__ == "CLIPTextModel" and loaded.width == 32
    assert loaded.encode(["a red circle"]).shape == (1, 16, 32)
    with pytest.raises(ValueError, match=r"max_tokens 77 must be in \[2, 16\]"):
        load_text_encoder(str(tmp_path / "clip"), max_tokens=77)
    t5 = T5EncoderModel(T5Config(vocab_size=30522, d_model=32, d_ff=64, d_kv=16, num_layers=1, num_heads=2))
    loaded = load_text_encoder(str(_with_minilm_tokenizer(t5, tmp_path / "t5")), max_tokens=12)
    assert type(loaded.model).__name__ == "T5EncoderModel" and loaded.width == 32
    assert loaded.encode(["a red circle"]).shape == (1, 12, 32)


def test_a_folder_that_is_no_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a transformers model directory: it has no config.json"):
        load_text_encoder(str(tmp_path))
