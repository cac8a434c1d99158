"""Tiny local classifiers with known answers: the head's weights are zero and its bias
decides, so a model says "unsafe" (bias [-5, 5]) or "safe" (bias [5, -5]) to every input."""

from pathlib import Path

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
    ViTConfig,
    ViTForImageClassification,
    ViTImageProcessorPil,
)

LABELS = {0: "safe", 1: "unsafe"}
UNSAFE_BIAS = (-5.0, 5.0)
SAFE_BIAS = (5.0, -5.0)
_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "circle", "sign", "stop", "open"]


def _fix_head(head: torch.nn.Module, bias: tuple[float, float]) -> None:
    assert isinstance(head, torch.nn.Linear)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor(bias))


def text_model(directory: Path, bias: tuple[float, float]) -> Path:
    directory.mkdir(parents=True)
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(_VOCAB) + "\n")
    tokenizer = BertTokenizer(vocab_file=str(vocab))
    config = BertConfig(
        vocab_size=len(_VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    model = BertForSequenceClassification(config)
    _fix_head(model.classifier, bias)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def image_model(directory: Path, bias: tuple[float, float]) -> Path:
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    model = ViTForImageClassification(config)
    _fix_head(model.classifier, bias)
    model.save_pretrained(directory)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def classifier_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("safety-classifiers")
    return {
        "text_unsafe": text_model(root / "text-unsafe", UNSAFE_BIAS),
        "text_safe": text_model(root / "text-safe", SAFE_BIAS),
        "image_unsafe": image_model(root / "image-unsafe", UNSAFE_BIAS),
        "image_safe": image_model(root / "image-safe", SAFE_BIAS),
    }
